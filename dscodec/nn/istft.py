"""Inverse-STFT synthesis head (Vocos, Siuzdak 2023; used by WavTokenizer): frame-rate features
-> log-magnitude and phase of an n_fft-point spectrum per frame -> waveform by overlap-add.

Why [ours], for the CPU sizes only: a waveform decoder (transposed convolutions from the 80 Hz
frame rate to 16 kHz, paper §2.1) must learn to make periodic, pitch-following signals sample
by sample, and in the few hundred steps a CPU budget buys it emits the speech envelope as noise
(benchmarks/RESULTS.md, "Learning curves"). A spectral head is asked for the spectrum directly
and runs entirely at the frame rate (no 16 kHz convolutions or Snakes). Measured, it did not learn
faster at `small` (RESULTS, "An inverse-STFT decoder head"), so it stays an option, off by default.

The WavTokenizer baseline port (dscodec/evaluate/baselines/ports/wavtokenizer_model.py) has its own
`ISTFTHead`: it calls `torch.istft` and keeps upstream's parameter names so the released checkpoint
loads, which is why the two are not one module.

The inverse DFT is written as two matrix products with a windowed cosine/sine basis and the
overlap-add as shifted sums, not `torch.istft`, so the head traces into an ONNX graph at opset
17 (which has no inverse STFT). It equals `torch.istft(..., center=True, length=F * hop)` with
a periodic Hann window (tests/test_istft_head.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def overlap_add(blocks: torch.Tensor) -> torch.Tensor:
    """Sum frames split in `r` hop-sized blocks into a signal: [B, F, r, hop] -> [B, (F + r - 1) * hop].

    Frame f's block m lands on output block f + m; shifted pads keep it traceable to ONNX.
    """
    batch, frames, r, hop = blocks.shape
    total = sum(F.pad(blocks[:, :, m], (0, 0, m, r - 1 - m)) for m in range(r))
    return total.reshape(batch, (frames + r - 1) * hop)


class ISTFTHead(nn.Module):
    """[B, dim, F] features -> [B, 1, F * hop] waveform; window n_fft = `overlap` * hop (Vocos: 4)."""

    def __init__(self, dim: int, hop: int, overlap: int = 4) -> None:
        super().__init__()
        self.hop, self.overlap = hop, overlap
        self.n_fft = n_fft = hop * overlap
        bins = n_fft // 2 + 1
        self.proj = nn.Linear(dim, 2 * bins)  # log-magnitude and phase per bin
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(bins, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        # inverse real DFT: DC and Nyquist once, every other bin twice (its conjugate twin), / n_fft
        weight = torch.where((k == 0) | (k == n_fft // 2), 1.0, 2.0)[:, None] / n_fft
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        self.register_buffer("cos_basis", (weight * torch.cos(angle) * window).float(), persistent=False)
        self.register_buffer("sin_basis", (-weight * torch.sin(angle) * window).float(), persistent=False)
        self.register_buffer("window_sq", (window**2).float().view(overlap, hop), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_mag, phase = self.proj(x.transpose(1, 2)).chunk(2, dim=-1)  # [B, F, bins] each
        mag = torch.exp(log_mag).clamp(max=1e2)  # Vocos' guard against a blow-up early in training
        frames = (mag * torch.cos(phase)) @ self.cos_basis + (mag * torch.sin(phase)) @ self.sin_basis
        batch, n_frames = frames.shape[0], frames.shape[1]
        signal = overlap_add(frames.reshape(batch, n_frames, self.overlap, self.hop))
        envelope = overlap_add(self.window_sq.expand(1, n_frames, self.overlap, self.hop))
        # centred frames: frame f is centred on sample f * hop. Crop before dividing: the envelope is 0
        # at the outer edges, and 0/0 there would turn the (zero) gradient of the cropped samples into NaN
        keep = slice(self.n_fft // 2, self.n_fft // 2 + n_frames * self.hop)
        return (signal[:, keep] / envelope[:, keep]).unsqueeze(1)

    @property
    def half_receptive_field_frames(self) -> int:
        """Frames either side that reach an output sample (a bound), for chunked decoding."""
        return self.overlap // 2 + 1
