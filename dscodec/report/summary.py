"""The few lines printed at the end of `snakemake reproduce_tables`.

Why: after an hour-long run a researcher wants to know where the results are, how DS-Codec
did against the best baseline at a similar bitrate, and how to open MLflow, without reading
the Snakemake log. Everything comes from the evaluation folders (the same numbers as Table 1).
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Mapping

from dscodec import layout
from dscodec.config import reports_path, tracking_uri
from dscodec.report import plan
from dscodec.report.collect import EvalResult, load_result
from dscodec.tracking import pipeline_run_id

SIMILAR_BITRATE = 2.0   # a baseline is "at a similar bitrate" within this factor of DS-Codec's
HEADLINE_METRICS = (("pesq_wb", "PESQ-WB"), ("stoi", "STOI"), ("wer", "WER"))


def mlflow_ui_command(cfg: Mapping[str, Any]) -> str:
    """The command that opens this config's MLflow store in the browser."""
    return f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri(cfg))} --port 5000"


def _row(label: str, result: EvalResult) -> str:
    kbps = result.info.get("bitrate_kbps")
    parts = [f"{label:<24}", f"{kbps:5.2f} kbps" if kbps is not None else "  kbps n/a"]
    for key, header in HEADLINE_METRICS:
        cell = result.cell(key)
        if cell.mean is not None:
            parts.append(f"{header} {cell.text(2)}")
        elif key != "wer":      # WER only when computed; a missing PESQ/STOI is worth saying
            parts.append(f"{header} {(cell.note or 'missing').split(':')[0]}")
    return "  " + "  ".join(parts)


def headline_rows(cfg: Mapping[str, Any]) -> list[str]:
    """Table 1's DS-Codec rows and, for each, the best baseline (by PESQ-WB) within a factor
    SIMILAR_BITRATE of its bitrate; says so when no baseline ran at such a bitrate."""
    from dscodec.report.build import _family, _label

    spec = plan.tables(cfg)["table1"]
    eval_root = Path(layout.eval_root(cfg))
    results = [load_result(cfg, e, spec.testset) for e in spec.entities if e.kind != "ground_truth"]
    ran = [r for r in results if r.ran]
    ours = [r for r in ran if _family(cfg, r) == "DS-Codec"]
    baselines = [r for r in ran if _family(cfg, r) in ("classical", "neural baseline")
                 and r.info.get("bitrate_kbps") is not None]
    if not ours:
        return [f"  no DS-Codec evaluation found under {eval_root}/*/{spec.testset}"]
    lines = []
    for result in ours:
        lines.append(_row(_label(cfg, result, False), result))
        kbps = result.info.get("bitrate_kbps")
        near = [b for b in baselines if kbps and kbps / SIMILAR_BITRATE <= b.info["bitrate_kbps"] <= kbps * SIMILAR_BITRATE]
        scored = [b for b in near if b.cell("pesq_wb").mean is not None]
        if scored:
            best = max(scored, key=lambda b: float(b.cell("pesq_wb").mean or 0.0))
            lines.append(_row(f"best baseline: {_label(cfg, best, False)}", best))
        else:
            lines.append(f"  (no baseline ran within x{SIMILAR_BITRATE:g} of {kbps} kbps)")
    return lines


def summary_text(cfg: Mapping[str, Any]) -> str:
    reports = reports_path(cfg)
    lines = [
        "=" * 72,
        "DS-Codec reproduction finished.",
        f"Reports: {reports}/README.md (tables in {reports}/tables, figures in {reports}/figures,",
        f"         listening page {reports}/listen/index.html)",
        f"Table 1 headline ({plan.tables(cfg)['table1'].testset}, mean ± 95% CI):",
        *headline_rows(cfg),
        "MLflow UI:",
        f"  {mlflow_ui_command(cfg)}   (or: make mlflow-ui)",
        "  then open http://127.0.0.1:5000 (filter and group-by: README, section MLflow);",
        f"  this invocation's runs: tags.pipeline_run = '{pipeline_run_id()}'",
        "=" * 72,
    ]
    return "\n".join(lines)


def print_summary_if_built(cfg: Mapping[str, Any]) -> None:
    """Snakemake's onsuccess hook: print the summary once the reports index exists (a run of
    `reproduce_tables` or `report_index`); a run of one training job prints nothing."""
    if not (reports_path(cfg) / "README.md").is_file():
        return
    try:
        text = summary_text(cfg)
    except Exception as err:  # noqa: BLE001 - the run itself succeeded: a summary must not fail it
        text = f"(no summary: {type(err).__name__}: {err}; the reports are in {reports_path(cfg)})"
    print(text, flush=True)
