"""How visible a reference's harmonics are in a reconstruction: per-sample F0 tracks and the
harmonic contrast (issue 10's "harmonics visible" as a number).

Why a number: the listening page's spectrograms, and the learning curves' before this, were judged by
eye on one absolute dB scale, where the low band saturates and harmonics hide in the reference too.
The contrast is computed against the *reference's* pitch, so harmonics at another pitch (the fixed
lines an untrained up-sampling decoder emits) do not count. Used by bench_learning.py (every point)
and diag_harmonic_source.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

SR = 16000


def pitch_tracker() -> Any:
    """The evaluation's CREPE `tiny` tracker (dscodec.evaluate.metrics.pitch.VoicingF1: 10 ms hop,
    voiced = periodicity >= 0.21 after the -60 dB silence gate)."""
    from dscodec.evaluate.metrics.pitch import VoicingF1

    return VoicingF1({"crepe_model": "tiny"})


def per_sample_f0(x: np.ndarray, tracker: Any) -> np.ndarray:
    """Per-sample F0 of a 16 kHz signal (Hz, 0 = unvoiced): the tracker's frames interpolated."""
    from dscodec.evaluate.metrics.pitch import VOICED_THRESHOLD

    pitch, periodicity = tracker.tracks(np.asarray(x, dtype=np.float32))[0]
    centres = np.arange(len(pitch)) * tracker.hop + 512          # CREPE frames start at 0, 1024 wide
    n = np.arange(len(x))
    voiced = np.interp(n, centres, (periodicity >= VOICED_THRESHOLD).astype(np.float32)) >= 0.5
    return (np.interp(n, centres, pitch) * voiced).astype(np.float32)


def harmonic_contrast_db(x: np.ndarray, f0: np.ndarray, n_fft: int = 1024, hop: int = 160,
                         max_hz: float = 2000.0) -> float:
    """How visible the reference's harmonics are in `x`: over the frames where the reference is voiced
    (per-sample `f0` > 0 at the frame centre), the mean log-magnitude at k x F0 minus that at
    (k + 1/2) x F0, for every k with (k + 1/2) x F0 below `max_hz`, in dB (Hann window, bins interpolated).
    A harmonic signal at that F0 scores well above 0; noise, or harmonics at another pitch, near 0."""
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(torch.from_numpy(np.asarray(x, dtype=np.float64)), n_fft, hop, window=window,
                      return_complex=True).abs().clamp_min(1e-9).log10().mul(20).numpy()   # [bins, frames]
    bins = np.arange(spec.shape[0]) * SR / n_fft
    contrasts = []
    for t in range(spec.shape[1]):
        centre = t * hop
        pitch = float(f0[centre]) if centre < len(f0) else 0.0
        if pitch <= 0:
            continue
        k = np.arange(1, int(max_hz / pitch - 0.5) + 1)
        if len(k):
            contrasts.append(np.mean(np.interp(k * pitch, bins, spec[:, t]) - np.interp((k + 0.5) * pitch, bins, spec[:, t])))
    return float(np.mean(contrasts)) if contrasts else float("nan")
