"""Which test utterances an evaluation scores when `evaluation.max_utterances` caps the set.

Why not the first N manifest rows: manifests are ordered by speaker, so a cap of 6 scored a
single synthetic voice (issue 11) and every table described one speaker. The subset is
drawn instead, stratified over speakers: a seeded speaker order, a seeded utterance order
within each speaker, then one utterance per speaker in turn until N are taken. So N >= the
number of speakers covers every speaker, and the counts per speaker differ by at most one.

Deterministic and independent of manifest order: the manifest is sorted by (speaker, id)
first, and each speaker's order depends only on the seed and the speaker's name (adding a
speaker does not reshuffle the others). The result is sorted by (speaker, id). For a
single-speaker set (the LJSpeech-style eval.tsv, itself a seeded draw of 2,000 utterances)
this is simply a seeded sample.
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd


def _speaker_rng(seed: int, speaker: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(speaker.encode("utf-8"))])


def draw(manifest: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """`n` rows of `manifest` (all rows when n is None or covers them), stratified over speakers."""
    frame = manifest.sort_values(["speaker", "id"], kind="stable").reset_index(drop=True)
    if n is None or int(n) >= len(frame):
        return frame
    speakers = sorted(frame["speaker"].astype(str).unique())
    queues = {}
    for speaker in speakers:
        rows = np.flatnonzero(frame["speaker"].astype(str).to_numpy() == speaker)
        queues[speaker] = list(rows[_speaker_rng(seed, speaker).permutation(rows.size)])
    order = [speakers[i] for i in np.random.default_rng(int(seed)).permutation(len(speakers))]
    picked: list[int] = []
    while len(picked) < int(n):
        for speaker in order:
            if queues[speaker] and len(picked) < int(n):
                picked.append(int(queues[speaker].pop(0)))
    return frame.iloc[sorted(picked)].reset_index(drop=True)


def describe(rows: pd.DataFrame, manifest_rows: int, n: int | None, seed: int) -> dict[str, Any]:
    """summary["subset"]: what was drawn from what, and how many utterances per speaker (table footers)."""
    counts = rows["speaker"].astype(str).value_counts()
    return {"seed": int(seed), "max_utterances": None if n is None else int(n), "manifest_utterances": int(manifest_rows),
            "utterances": int(len(rows)), "speakers": {str(k): int(counts[k]) for k in sorted(counts.index)}}
