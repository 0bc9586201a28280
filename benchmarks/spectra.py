"""One STFT for the benchmarks' magnitude/phase diagnostics (1024-point Hann, hop 200 = the codec's 80
frames per second), and a reconstruction's magnitude re-phased with the reference's phase.

Why the re-phased score: PESQ-WB of a decoder's output mixes two walls, its magnitude spectrum and its
phase (excitation). Giving its magnitude the reference's own phase takes the second away, so the score
measures how much of the reference the magnitude holds (benchmarks/RESULTS.md, "What limits PESQ-WB").
Used by bench_learning.py (every point) and diag_pesq_ceiling.py.
"""
from __future__ import annotations

import numpy as np
import torch

N_FFT, HOP = 1024, 200


def stft(x: np.ndarray) -> torch.Tensor:
    """Complex STFT [bins, frames] of a 1-D float signal (centred, Hann), in float64."""
    return torch.stft(torch.from_numpy(np.asarray(x, dtype=np.float64)), N_FFT, HOP,
                      window=torch.hann_window(N_FFT, dtype=torch.float64), return_complex=True)


def istft(spec: torch.Tensor, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (overlap-add of the given, possibly inconsistent, frames)."""
    return torch.istft(spec, N_FFT, HOP, window=torch.hann_window(N_FFT, dtype=torch.float64),
                       length=length).numpy()


def with_reference_phase(ref: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """`recon`'s STFT magnitude with `ref`'s STFT phase, inverted (same length as `ref`)."""
    recon = np.asarray(recon, dtype=np.float64)[: len(ref)]
    return istft(stft(recon).abs() * torch.exp(1j * torch.angle(stft(ref))), len(ref))
