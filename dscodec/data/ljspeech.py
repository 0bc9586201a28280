"""LJSpeech-1.1 reader (Ito & Johnson, 2017): one female speaker, 13,100 clips at 22,050 Hz.

Layout (reproduced by the sample corpus): <root>/LJSpeech-1.1/metadata.csv with lines
`LJ001-0001|raw text|normalized text`, and <root>/LJSpeech-1.1/wavs/LJ001-0001.wav.
DS-Codec never trains on LJSpeech; it is the out-of-domain test set (paper Table 2:
2,000 random utterances), so the reader also draws that seeded evaluation subset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dscodec.data.split_report import BadItem, Candidate

SPEAKER = "LJ"


def corpus_dir(root: str | Path) -> Path | None:
    """`root/LJSpeech-1.1` (as extracted), or root itself when it holds metadata.csv."""
    root = Path(root)
    for cand in (root / "LJSpeech-1.1", root):
        if (cand / "metadata.csv").is_file():
            return cand
    return None


def read_corpus(directory: Path) -> tuple[list[Candidate], list[BadItem]]:
    """Utterances listed in metadata.csv (normalized text preferred), plus wavs it does not list."""
    candidates: list[Candidate] = []
    bad: list[BadItem] = []
    listed: set[str] = set()
    meta = directory / "metadata.csv"
    for lineno, line in enumerate(meta.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("|")
        utt = parts[0].strip()
        if len(parts) < 2 or not utt:
            bad.append(BadItem(f"{meta}:{lineno}", "malformed metadata line (expected id|text|normalized text)"))
            continue
        if utt in listed:
            bad.append(BadItem(f"{meta}:{lineno}", f"duplicate metadata line for {utt}"))
            continue
        listed.add(utt)
        text = (parts[2] if len(parts) > 2 and parts[2].strip() else parts[1]).strip()
        wav = directory / "wavs" / f"{utt}.wav"
        if not wav.is_file():
            bad.append(BadItem(str(wav), "listed in metadata.csv but the audio file is missing"))
            continue
        candidates.append(Candidate(id=utt, path=str(wav), speaker=SPEAKER, chapter=utt.split("-")[0], text=text))
    for wav in sorted((directory / "wavs").glob("*.wav")) if (directory / "wavs").is_dir() else []:
        if wav.stem not in listed:
            candidates.append(Candidate(id=wav.stem, path=str(wav), speaker=SPEAKER, chapter=wav.stem.split("-")[0],
                                        text="", notes=["not in metadata.csv (text left empty)"]))
    return candidates, bad


def draw_eval(manifest: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """`n` utterances drawn without replacement with `seed` (capped at what exists).

    The rows keep the draw order, so any prefix is itself a uniform random subset (a capped
    evaluation draws its own seeded sample of these rows: dscodec/evaluate/subset.py).
    """
    rng = np.random.default_rng(seed)
    ordered = manifest.sort_values("id", kind="stable").reset_index(drop=True)
    take = rng.permutation(len(ordered))[: min(n, len(ordered))]
    return ordered.iloc[take].reset_index(drop=True)
