"""Torch datasets over manifests: random 1 s crops for training, whole utterances for evaluation.

Training (paper Section 3.1): "random 1 s crops" of LibriSpeech. `CropDataset` reads only the
cropped region of each file (`dscodec.audio.read_crop`), resamples/down-mixes on the fly and
applies the level normalisation documented in `dscodec.audio` ([ours]: RMS level drawn from
LEVEL_DBFS_RANGE, peak-limited). Evaluation uses whole utterances at their original level
(`UtteranceDataset`), as the Vocos protocol compares reconstructions with the references as-is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dscodec.audio import LEVEL_DBFS_RANGE, TARGET_SR, fit_length, load_audio, normalize_level, read_crop
from dscodec.data.manifest import read_manifest
from dscodec.errors import DataError


class CropDataset(Dataset):
    """Item i = a random crop of utterance i: FloatTensor [1, segment_samples] at 16 kHz.

    Randomness is reproducible without shared state: the crop of utterance i is drawn from
    a generator seeded by (seed, epoch, i, how often this worker drew i), so runs with the
    same seed, sampler and worker count see the same crops. Call `set_epoch` each epoch
    (as with DistributedSampler) for fresh crops. Utterances shorter than a segment are
    zero-padded at the end.
    """

    def __init__(self, manifest_path: str | Path, segment_samples: int, seed: int,
                 target_sr: int = TARGET_SR, normalize: bool = True,
                 level_dbfs_range: tuple[float, float] = LEVEL_DBFS_RANGE) -> None:
        if segment_samples <= 0:
            raise ValueError(f"segment_samples must be positive, got {segment_samples}")
        df = read_manifest(manifest_path)
        if len(df) == 0:
            raise DataError(f"{manifest_path}: manifest is empty")
        self.manifest_path = str(manifest_path)
        self.paths = df["path"].tolist()
        self.rates = df["sample_rate"].to_numpy(dtype=np.int64)
        self.frames = df["frames"].to_numpy(dtype=np.int64)
        self.segment_samples = int(segment_samples)
        self.seed = int(seed)
        self.target_sr = int(target_sr)
        self.normalize = normalize
        self.level_dbfs_range = level_dbfs_range
        self.epoch = 0
        self._draws: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._draws.clear()

    def _rng(self, index: int) -> np.random.Generator:
        n = self._draws.get(index, 0)
        self._draws[index] = n + 1
        return np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, index, n])

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = self._rng(index)
        sr, total = int(self.rates[index]), int(self.frames[index])
        # native-rate frames that cover one segment after resampling
        need = int(np.ceil(self.segment_samples * sr / self.target_sr))
        start = int(rng.integers(0, total - need + 1)) if total > need else 0
        wav = read_crop(self.paths[index], start, need, self.target_sr)
        wav = fit_length(wav, self.segment_samples)
        if self.normalize:
            wav = normalize_level(wav, float(rng.uniform(*self.level_dbfs_range)))
        return wav


class UtteranceDataset(Dataset):
    """Whole utterances for evaluation: dict(id, wav [1, T] at 16 kHz, speaker, text), original level.

    `max_utterances` keeps the first N manifest rows (LJSpeech's eval.tsv is already in random
    draw order, so any prefix is a random subset).
    """

    def __init__(self, manifest_path: str | Path, max_utterances: int | None = None,
                 target_sr: int = TARGET_SR) -> None:
        df = read_manifest(manifest_path)
        if max_utterances is not None:
            df = df.iloc[: int(max_utterances)]
        self.manifest_path = str(manifest_path)
        self.rows = df.to_dict("records")
        self.target_sr = int(target_sr)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        return {"id": row["id"], "wav": load_audio(row["path"], self.target_sr), "speaker": row["speaker"],
                "text": row["text"]}

