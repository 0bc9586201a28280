"""Turn probed corpus files into manifest rows plus a data report; nothing is dropped silently.

Every file a reader finds ends up either in a manifest (possibly with fixes applied on load,
e.g. resampling) or in `report.json` under `bad_files` with its reason. A split whose bad
fraction exceeds `data.max_bad_fraction` fails the job with a DataError after the report is
written, so the user can read which files were wrong.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dscodec.data.manifest import COLUMNS
from dscodec.data.audio_check import Probe, probe_files
from dscodec.errors import DataError
from dscodec.fileio import atomic_write_json


@dataclass
class Candidate:
    """One utterance as a corpus reader found it (before the audio was checked)."""

    id: str
    path: str
    speaker: str
    chapter: str
    text: str
    notes: list[str] = field(default_factory=list)  # fixes found by the reader itself


@dataclass
class BadItem:
    path: str
    reason: str


@dataclass
class SplitResult:
    name: str
    manifest: pd.DataFrame
    summary: dict[str, Any]
    bad: list[BadItem]
    fixed: list[tuple[str, list[str]]]


def build_split(
    name: str, candidates: list[Candidate], reader_bad: list[BadItem], workers: int = 1
) -> SplitResult:
    """Probe the candidates' audio and sort them into manifest rows, fixed files and bad files."""
    probes: list[Probe] = probe_files([c.path for c in candidates], workers=workers)
    rows, fixed, bad = [], [], list(reader_bad)
    fix_counts: Counter[str] = Counter()
    for cand, probe in zip(candidates, probes):
        if not probe.ok:
            bad.append(BadItem(cand.path, probe.reason))
            continue
        fixes = cand.notes + probe.fixes
        if fixes:
            fixed.append((cand.path, fixes))
            fix_counts.update(fixes)
        rows.append(
            dict(id=cand.id, path=str(Path(cand.path).resolve()), sample_rate=probe.sample_rate,
                 frames=probe.frames, speaker=cand.speaker, chapter=cand.chapter, text=cand.text)
        )
    df = pd.DataFrame(rows, columns=COLUMNS)
    total = len(df) + len(bad)
    seconds = float((df["frames"] / df["sample_rate"]).sum()) if len(df) else 0.0
    summary = {
        "manifest": f"{name}.tsv",
        "files_found": total,
        "utterances": len(df),
        "speakers": int(df["speaker"].nunique()) if len(df) else 0,
        "seconds": round(seconds, 3),
        "hours": round(seconds / 3600.0, 4),
        "bad": len(bad),
        "bad_fraction": round(len(bad) / total, 6) if total else 0.0,
        "fixes": dict(sorted(fix_counts.items())),
    }
    return SplitResult(name, df, summary, bad, fixed)


def check_bad_fraction(results: list[SplitResult], max_bad_fraction: float, report_path: Path) -> None:
    """Raise one DataError naming every split that is empty or has too many bad files."""
    problems = []
    for res in results:
        s = res.summary
        if s["utterances"] == 0:
            problems.append(f"split `{res.name}` has no usable utterances ({s['files_found']} files found)")
        elif s["bad_fraction"] > max_bad_fraction:
            problems.append(
                f"split `{res.name}`: {s['bad']} of {s['files_found']} files are bad "
                f"({s['bad_fraction']:.1%} > data.max_bad_fraction = {max_bad_fraction:.1%})"
            )
    if problems:
        raise DataError("; ".join(problems) + f". The bad files and reasons are listed in {report_path}")


def write_report(path: Path, header: dict[str, Any], results: list[SplitResult], extra: dict[str, Any]) -> Path:
    report = dict(header)
    report["splits"] = {r.name: r.summary for r in results}
    report.update(extra)
    report["bad_files"] = [dict(split=r.name, path=b.path, reason=b.reason) for r in results for b in r.bad]
    report["fixed_files"] = [dict(split=r.name, path=p, fixes=f) for r in results for p, f in r.fixed]
    return atomic_write_json(path, report, indent=2)
