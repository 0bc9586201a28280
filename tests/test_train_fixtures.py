"""Helpers for the training tests: a tiny synthetic manifest (sine + noise FLAC files written
with soundfile) and a tiny-model config. Imported by tests/test_train_*.py and test_tracking.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from dscodec.config import REPO_ROOT, deep_merge, load_config
from dscodec.data.manifest import write_manifest

SR = 16000


def write_corpus(root: Path, n: int = 6, seconds: float = 1.3, seed: int = 0) -> Path:
    """n harmonic tones with noise, as FLAC, and their manifest; returns the manifest path."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        t = np.arange(int(seconds * SR)) / SR
        f0 = rng.uniform(100, 250)
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5)) * 0.2
        x = (x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        path = root / f"utt{i}.flac"
        sf.write(path, x, SR, subtype="PCM_16")
        rows.append({"id": f"utt{i}", "path": str(path.resolve()), "sample_rate": SR, "frames": len(x),
                     "speaker": f"s{i % 2}", "chapter": "1", "text": "tone"})
    return write_manifest(pd.DataFrame(rows), root / "manifest.tsv")


def tiny_config(tmp_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """configs/ci.yaml (tiny model) with results under tmp_path and a local MLflow store."""
    base = {
        "results_dir": str(tmp_path / "results"),
        "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "device": "cpu",
        "train": {
            "threads": 1,
            # GAN from step 0: these tests are about the GAN loop (the warm-up has a test of its own)
            "stage1": {"steps": 4, "adversarial_start_step": 0, "batch_size": 2, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 1,
                       "val_every": 4, "val_utterances": 2},
            "stage2": {"steps": 3, "batch_size": 2, "checkpoint_every": 2, "log_every": 1, "val_every": 3,
                       "val_utterances": 2},
        },
    }
    return load_config(REPO_ROOT / "configs" / "ci.yaml", overrides=deep_merge(base, overrides or {}))


def test_corpus_manifest_is_readable(tmp_path: Path) -> None:
    from dscodec.data.dataset import CropDataset

    manifest = write_corpus(tmp_path / "c", n=2)
    crop = CropDataset(manifest, 16000, seed=0)[0]
    assert crop.shape == (1, 16000) and float(crop.abs().max()) > 0
