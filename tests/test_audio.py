"""dscodec.audio: 16 kHz mono loading, resampling, down-mixing, partial crops, bad files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dscodec import audio
from dscodec.errors import AudioError
from fixtures_data import speechlike, write_corrupt, write_truncated


def _write(path: Path, x: np.ndarray, sr: int) -> Path:
    sf.write(path, x, sr, subtype="PCM_16")
    return path


def test_load_audio_returns_mono_float_at_16k(tmp_path: Path) -> None:
    x = speechlike(1.0, 16000)
    wav = audio.load_audio(_write(tmp_path / "a.flac", x, 16000))
    assert wav.dtype == torch.float32 and wav.shape == (1, 16000)
    assert torch.allclose(wav[0], torch.from_numpy(x), atol=1 / 16384)  # PCM_16 quantisation only


def test_load_audio_downmixes_stereo(tmp_path: Path) -> None:
    x = speechlike(0.5, 16000, channels=2)
    wav = audio.load_audio(_write(tmp_path / "s.wav", x, 16000))
    assert wav.shape == (1, 8000)
    assert torch.allclose(wav[0], torch.from_numpy(x.mean(axis=1)), atol=1e-4)


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_load_audio_resamples_keeping_content(tmp_path: Path, sr: int) -> None:
    t = np.arange(sr) / sr
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wav = audio.load_audio(_write(tmp_path / f"r{sr}.wav", x, sr))
    assert wav.shape == (1, 16000)
    spectrum = np.abs(np.fft.rfft(wav[0].numpy()))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 s at 16 kHz -> 1 Hz bins
    assert 0.45 < float(wav.abs().max()) < 0.55


def test_load_audio_rejects_bad_files_naming_them(tmp_path: Path) -> None:
    x = speechlike(1.0, 16000)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.flac"
    garbage.write_bytes(b"not audio " * 50)
    corrupt = tmp_path / "corrupt.flac"
    write_corrupt(corrupt, x, 16000)
    trunc_flac, trunc_wav = tmp_path / "t.flac", tmp_path / "t.wav"
    write_truncated(trunc_flac, x, 16000)
    write_truncated(trunc_wav, x, 16000)
    for bad in (empty, garbage, corrupt, trunc_flac, trunc_wav, tmp_path / "missing.flac"):
        with pytest.raises(AudioError, match=bad.name):
            audio.load_audio(bad)


def test_read_crop_matches_full_load_and_reads_only_the_crop(tmp_path: Path, monkeypatch) -> None:
    x = speechlike(5.0, 16000)
    path = _write(tmp_path / "long.flac", x, 16000)
    full = audio.load_audio(path)
    requested: list[int] = []
    real_read = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        requested.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    crop = audio.read_crop(path, 20000, 16000)
    assert requested == [16000]  # partial read, no full-file decode
    assert crop.shape == (1, 16000)
    assert torch.allclose(crop, full[:, 20000:36000])


def test_read_crop_resamples_and_pads_past_the_end(tmp_path: Path) -> None:
    path = _write(tmp_path / "lj.wav", speechlike(2.0, 22050), 22050)
    crop = audio.read_crop(path, 0, 22050)
    assert crop.shape == (1, 16000)
    tail = audio.read_crop(path, 44100 - 100, 22050)  # only 100 frames left
    assert tail.shape == (1, 16000)
    assert float(tail[0, 200:].abs().max()) < 1e-3  # zero beyond the end (resampling ringing aside)
    with pytest.raises(AudioError):
        audio.read_crop(path, 44100, 100)


def test_save_audio_roundtrip_flac_and_wav(tmp_path: Path) -> None:
    x = torch.from_numpy(speechlike(0.25, 16000)).unsqueeze(0)
    for name in ("o.flac", "o.wav"):
        audio.save_audio(tmp_path / name, x, 16000)
        info = sf.info(str(tmp_path / name))
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 4000)
        assert torch.allclose(audio.load_audio(tmp_path / name), x, atol=1 / 16384)
    with pytest.raises(AudioError):
        audio.save_audio(tmp_path / "o.mp3", x, 16000)


def test_normalize_level_hits_target_caps_gain_and_limits_peak() -> None:
    x = torch.from_numpy(speechlike(1.0, 16000)).unsqueeze(0)
    y = audio.normalize_level(x, -24.0)
    assert abs(audio.rms_dbfs(y) - (-24.0)) < 0.1
    quiet = x * 1e-4  # -80 dB: gain capped at MAX_GAIN_DB
    assert audio.rms_dbfs(audio.normalize_level(quiet, -20.0)) < audio.rms_dbfs(quiet) + audio.MAX_GAIN_DB + 0.1
    loud = audio.normalize_level(x, 0.0)
    assert float(loud.abs().max()) <= audio.PEAK_LIMIT + 1e-6
