"""Read evaluation outputs back: summary.json (what ran, with which models) + scores.parquet (per utterance).

Means and 95% confidence intervals are recomputed here from the per-utterance scores, so a
table cell is always traceable to the rows of one file. A column the evaluation marked
unavailable, or an entity that was not run, stays a note — never a number. Each cell also
carries how many utterances it averages (n) out of how many were attempted (N, the rows of
scores.parquet), so a partly failed metric shows "n/N" in the tables.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from dscodec import layout
from dscodec.report.plan import Entity
from dscodec.report.tables import Cell


@dataclass
class EvalResult:
    entity: Entity
    testset: str
    folder: Path
    summary: dict[str, Any]
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ran(self) -> bool:
        return self.summary.get("status", "ok") == "ok"

    @property
    def label(self) -> str:
        return str(self.summary.get("label") or self.entity.name)

    @property
    def info(self) -> dict[str, Any]:
        return dict(self.summary.get("info") or {})

    def metric_note(self, column: str) -> str | None:
        """'unavailable: <reason>' / 'not run: <reason>' when the column has no numbers."""
        if not self.ran:
            return f"not run: {self.summary.get('reason', 'no reason recorded')}"
        entry = (self.summary.get("metrics") or {}).get(column)
        if entry is None:
            return "not computed: its metric is not in this run's evaluation.metrics"
        if "unavailable" in entry:
            return f"unavailable: {entry['unavailable']}"
        return None

    def metric_model(self, column: str) -> str | None:
        entry = (self.summary.get("metrics") or {}).get(column) or {}
        return entry.get("model")

    def cell(self, column: str) -> Cell:
        note = self.metric_note(column)
        if note is not None:
            return Cell(note=note)
        if column not in self.scores:
            return Cell(note="unavailable: no per-utterance scores")
        values = pd.to_numeric(self.scores[column], errors="coerce").to_numpy(dtype=float)
        attempted = int(values.size)    # one row per utterance attempted, scored or not
        values = values[np.isfinite(values)]
        if values.size == 0:
            failures = (self.summary.get("metrics") or {}).get(column, {}).get("failures", "?")
            return Cell(note=f"failed: every utterance failed ({failures} failures)", total=attempted)
        mean, ci95 = mean_ci95(values)
        return Cell(mean=mean, ci95=ci95, n=int(values.size), total=attempted)


def mean_ci95(values: np.ndarray) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% t-interval (None for a single value)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, None
    sem = float(values.std(ddof=1) / math.sqrt(values.size))
    return mean, float(stats.t.ppf(0.975, values.size - 1) * sem)


def load_result(cfg: Mapping[str, Any], entity: Entity, testset: str) -> EvalResult:
    folder = Path(layout.eval_dir(cfg, entity.dirname, testset))
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        return EvalResult(entity, testset, folder, {"status": "missing", "reason": f"{summary_path} does not exist"})
    summary = json.loads(summary_path.read_text())
    scores_path = folder / "scores.parquet"
    scores = pd.read_parquet(scores_path) if scores_path.is_file() else pd.DataFrame()
    return EvalResult(entity, testset, folder, summary, scores)


def metric_models(results: list[EvalResult], columns: Mapping[str, str]) -> dict[str, str]:
    """Column header -> the model(s) that computed it, for table footers."""
    out: dict[str, str] = {}
    for key, header in columns.items():
        models = sorted({m for r in results if r.ran and (m := r.metric_model(key))})
        if models:
            out[header] = "; ".join(models)
    return out
