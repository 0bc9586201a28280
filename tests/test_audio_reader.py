"""AudioFileReader: regions of a file equal the same slice of `load_audio`, at any rate."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from dscodec.audio import AudioFileReader, load_audio
from dscodec.errors import AudioError


def _write(path, sr: int, seconds: float, channels: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    data = np.stack([tone * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)
    sf.write(path, data, sr, subtype="FLOAT")
    return path


# (start, stop) at 16 kHz: the file's start, the middle, across the end, wholly past the end
REGIONS = [(0, 1000), (4321, 9876), (15000, 17000), (16500, 16700)]


def test_same_rate_regions_are_the_exact_slices(tmp_path):
    path = _write(tmp_path / "a.wav", 16000, 1.0, channels=2)
    whole = load_audio(path)
    with AudioFileReader(path) as reader:
        assert reader.num_samples == whole.shape[-1] == 16000
        for a, b in REGIONS:
            expected = torch.nn.functional.pad(whole[:, a:b], (0, b - a - whole[:, a:b].shape[-1]))
            got = reader.read(a, b)
            assert got.shape == (1, b - a) and got.dtype == torch.float32
            assert torch.equal(got, expected)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_resampled_regions_match_the_whole_file_resampled(tmp_path, sr):
    path = _write(tmp_path / f"b{sr}.wav", sr, 1.07)
    whole = load_audio(path)
    with AudioFileReader(path) as reader:
        assert reader.num_samples == whole.shape[-1]
        n = reader.num_samples
        for a, b in REGIONS + [(n - 300, n), (n - 10, n + 50), (777, 778)]:
            expected = torch.nn.functional.pad(whole[:, a:b], (0, b - a - whole[:, a:b].shape[-1]))
            got = reader.read(a, b)
            assert got.shape == (1, b - a)
            assert torch.allclose(got, expected, rtol=0, atol=2e-6), (a, b, (got - expected).abs().max())


def test_too_small_a_margin_would_differ(tmp_path):
    """The equality above is not vacuous: without the margin the region's edges differ."""
    path = _write(tmp_path / "c.wav", 44100, 0.5)
    whole = load_audio(path)
    with AudioFileReader(path) as reader:
        reader.margin_blocks = 0
        a, b = 3200, 5432  # 3200 starts a common period (160 samples at 16 kHz for 44.1 kHz)
        assert not torch.allclose(reader.read(a, b), whole[:, a:b], rtol=0, atol=1e-4)


def test_samples_are_clipped_like_load_audio(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(path, np.full(1600, 1.5, dtype=np.float32), 16000, subtype="FLOAT")
    with AudioFileReader(path) as reader:
        assert float(reader.read(0, 1600).max()) == 1.0


def test_bad_files_are_audio_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        AudioFileReader(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        AudioFileReader(tmp_path / "empty.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="not a readable"):
        AudioFileReader(tmp_path / "junk.wav")
    nan = np.zeros(3200, dtype=np.float32)
    nan[2500] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    with AudioFileReader(tmp_path / "nan.wav") as reader:
        reader.read(0, 2000)  # the region before the fault reads
        with pytest.raises(AudioError, match="NaN"):
            reader.read(2000, 3200)


def test_truncated_wav_is_refused_at_open(tmp_path):
    path = _write(tmp_path / "t.wav", 16000, 0.5)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4000])
    with pytest.raises(AudioError, match="truncated"):
        AudioFileReader(path)
