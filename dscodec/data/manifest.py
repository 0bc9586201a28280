"""Manifests: one TSV per split with the columns every other part of the pipeline reads.

Columns (shared contract): id, path (absolute, the *original* file), sample_rate and frames
(of that file, before any resampling), speaker, chapter, text. Readers resample/down-mix on
the fly, so the manifest describes the corpus exactly as it lies on disk.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from dscodec.errors import DataError
from dscodec.fileio import atomic_write_text

COLUMNS = ["id", "path", "sample_rate", "frames", "speaker", "chapter", "text"]
_DTYPES = {"id": str, "path": str, "sample_rate": "int64", "frames": "int64", "speaker": str, "chapter": str, "text": str}


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest TSV; raise DataError if it is missing or lacks a contract column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path} (run `snakemake prepare_data` first)")
    try:
        df = pd.read_csv(
            path, sep="\t", dtype=_DTYPES, keep_default_na=False, quoting=csv.QUOTE_NONE, encoding="utf-8"
        )
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: not a valid manifest ({err})") from err
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: manifest lacks column(s) {missing}; expected {COLUMNS}")
    return df


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the contract columns (in order) atomically; tabs/newlines in text become spaces."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"write_manifest: missing column(s) {missing}")
    out = df[COLUMNS].copy()
    for col in ("id", "path", "speaker", "chapter", "text"):
        out[col] = out[col].astype(str).str.replace(r"[\t\r\n]+", " ", regex=True)
    text = out.to_csv(None, sep="\t", index=False, quoting=csv.QUOTE_NONE, escapechar=None)
    return atomic_write_text(path, text)
