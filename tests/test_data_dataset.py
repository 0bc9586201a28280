"""CropDataset / UtteranceDataset over manifests: shapes, resampling, padding, reproducible crops."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
import torch

from dscodec.audio import load_audio, rms_dbfs
from dscodec.data.dataset import CropDataset, UtteranceDataset
from dscodec.data.manifest import write_manifest
from fixtures_data import speechlike


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    rows = []
    for i, (sr, seconds, channels) in enumerate([(16000, 3.0, 1), (22050, 2.5, 1), (44100, 2.0, 2), (16000, 0.4, 1)]):
        path = tmp_path / f"u{i}.{'flac' if sr == 16000 else 'wav'}"
        sf.write(path, speechlike(seconds, sr, seed=i, channels=channels), sr, subtype="PCM_16")
        rows.append(dict(id=f"u{i}", path=str(path), sample_rate=sr, frames=int(seconds * sr), speaker=f"s{i % 2}",
                         chapter="1", text=f"utterance {i}"))
    return write_manifest(pd.DataFrame(rows), tmp_path / "m.tsv")


def test_crops_are_one_second_mono_16k_and_level_normalised(manifest: Path) -> None:
    ds = CropDataset(manifest, segment_samples=16000, seed=0)
    assert len(ds) == 4
    for i in range(len(ds)):
        crop = ds[i]
        assert crop.shape == (1, 16000) and crop.dtype == torch.float32
        assert float(crop.abs().max()) <= 0.99 + 1e-6
        if i < 3:
            assert -30.5 < rms_dbfs(crop) < -15.5
    short = ds[3]  # 0.4 s utterance: zero-padded at the end
    assert float(short[0, 7000:].abs().max()) == 0.0 and float(short[0, :6000].abs().max()) > 0


def test_crops_are_reproducible_and_vary(manifest: Path) -> None:
    a = CropDataset(manifest, 8000, seed=3, normalize=False)
    b = CropDataset(manifest, 8000, seed=3, normalize=False)
    first = [a[0] for _ in range(3)]
    assert all(torch.equal(x, y) for x, y in zip(first, [b[0] for _ in range(3)]))
    assert not torch.equal(first[0], first[1])  # repeated draws of one utterance give new crops
    a.set_epoch(1)
    b.set_epoch(1)
    assert torch.equal(a[0], b[0])
    # an un-normalised crop is a slice of the whole utterance
    full = load_audio(a.paths[0])[0]
    crop = CropDataset(manifest, 8000, seed=5, normalize=False)[0][0]
    starts = [s for s in range(0, full.numel() - 8000 + 1) if torch.equal(full[s:s + 8000], crop)]
    assert len(starts) == 1


def test_utterance_dataset_returns_whole_utterances(manifest: Path) -> None:
    ds = UtteranceDataset(manifest)
    assert len(ds) == 4 and len(UtteranceDataset(manifest, max_utterances=2)) == 2
    item = ds[2]  # 44.1 kHz stereo
    assert item["id"] == "u2" and item["speaker"] == "s0" and item["text"] == "utterance 2"
    assert item["wav"].shape == (1, 32000)
    assert ds[1]["wav"].shape == (1, 40000)
