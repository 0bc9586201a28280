"""The evaluation test sets: where each manifest lives and which utterances of it are scored.

Kept apart from the job (runner.py) because the report builder, the workflow and the
reference-feature cache all need the same answer to "which utterances does this test set mean".
The test sets themselves are registered in dscodec/layout.py (TESTSETS), with the other paths.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from dscodec import layout


def manifest_path(cfg: Mapping[str, Any], testset: str) -> Path:
    """librispeech_test -> R/data/librispeech/test.tsv (dscodec/layout.py; unknown: ConfigError)."""
    return Path(layout.manifest(cfg, testset))


def load_testset(path: str | Path, max_utterances: int | None, seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The utterances to score (at most `max_utterances`, drawn with `seed` and stratified over
    speakers, sorted by speaker and id: dscodec/evaluate/subset.py) and summary["subset"]."""
    from dscodec.data.manifest import read_manifest
    from dscodec.evaluate import subset

    frame = read_manifest(path)
    rows = subset.draw(frame, max_utterances, seed)
    return rows, subset.describe(rows, len(frame), max_utterances, seed)


def subset_seed(cfg: Mapping[str, Any]) -> int:
    """`evaluation.subset_seed`, or the config's `seed` in a config written before that key existed."""
    value = cfg["evaluation"].get("subset_seed")
    return int(cfg["seed"] if value is None else value)
