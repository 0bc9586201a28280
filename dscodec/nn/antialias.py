"""Anti-aliased SnakeBeta, as BigCodec (after BigVGAN) applies it at `paper` size.

SnakeBeta's sin^2 term creates harmonics far above the signal's band; at the sampling rate
of a layer they fold back (alias) into the band. BigCodec therefore evaluates every
activation at twice the rate: up-sample x2 with a windowed-sinc low-pass, apply SnakeBeta,
low-pass again and drop every other sample. We implement the same computation so that
BigCodec's released weights compute the same function in our model (issue 12; the filter
design and the edge handling must match BigCodec's `alias_free_torch` numerically, which
tests/test_bigcodec_import.py checks against the port in dscodec/evaluate/baselines).

The filters are fixed (derived from the kernel size), so they are non-persistent buffers:
state dicts are the same with anti-aliasing on or off; only `ModelSize` says which applies.
The activation itself is our SnakeBeta with its hand-written backward.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dscodec.nn.activations import SnakeBeta

RATIO = 2          # [BigCodec] activations at twice the layer's rate
KERNEL_SIZE = 12   # [BigCodec] taps of both the up- and the down-sampling filter


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's window shape for a stop-band attenuation (Oppenheim & Schafer's rule)."""
    if attenuation_db > 50.0:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db >= 21.0:
        return 0.5842 * (attenuation_db - 21.0) ** 0.4 + 0.07886 * (attenuation_db - 21.0)
    return 0.0


def lowpass_taps(cutoff: float, half_width: float, kernel_size: int = KERNEL_SIZE) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass, `cutoff` and `half_width` in cycles/sample; [K], sum 1.

    The attenuation estimate uses half the kernel length, as BigCodec's design does (not the
    textbook full length); changing it would change every filter tap of the released model.
    """
    half = kernel_size // 2
    transition = 4 * math.pi * half_width  # transition width in rad/sample
    beta = kaiser_beta(2.285 * (half - 1) * transition + 7.95)
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta)
    # tap positions relative to the centre: half-integers for an even length
    centre = (kernel_size - 1) / 2 if kernel_size % 2 == 0 else half
    offsets = torch.arange(kernel_size) - centre
    taps = window * 2 * cutoff * torch.sinc(2 * cutoff * offsets)
    return taps / taps.sum()  # unit gain at DC, so a constant passes unchanged


def upsample2(x: torch.Tensor, taps: torch.Tensor, channels: int | None = None) -> torch.Tensor:
    """[B, C, T] -> [B, C, 2T]: zero-stuffing and low-pass as one transposed conv.

    The input is extended by edge replication so the ends see no artificial step; the
    transposed conv's extra outputs are cropped symmetrically ((K - 2) / 2 plus the padding)."""
    k = taps.numel()
    pad = k // RATIO - 1
    channels = channels or x.shape[1]  # a Python int when known: the ONNX exporter needs a static kernel shape
    y = F.conv_transpose1d(F.pad(x, (pad, pad), mode="replicate"), taps.view(1, 1, k).expand(channels, 1, k),
                           stride=RATIO, groups=channels)
    left = pad * RATIO + (k - RATIO) // 2
    right = pad * RATIO + (k - RATIO + 1) // 2
    return RATIO * y[..., left:y.shape[-1] - right]  # x RATIO: zero-stuffing kept 1/RATIO of the energy


def downsample2(x: torch.Tensor, taps: torch.Tensor, channels: int | None = None) -> torch.Tensor:
    """[B, C, 2T] -> [B, C, T]: low-pass, keep every other sample (edges replicated)."""
    k = taps.numel()
    channels = channels or x.shape[1]
    x = F.pad(x, (k // 2 - (1 - k % 2), k // 2), mode="replicate")
    return F.conv1d(x, taps.view(1, 1, k).expand(channels, 1, k), stride=RATIO, groups=channels)


class AntiAliasedSnakeBeta(SnakeBeta):
    """SnakeBeta evaluated at twice the rate: up-sample x2, activate, low-pass, down-sample x2.

    A subclass rather than a wrapper so the parameters keep SnakeBeta's names
    (`log_alpha`, `log_beta`)."""

    # Samples (at the layer's rate) each output may depend on, either side: each of the two
    # K-tap filters at the doubled rate spans K/2 input samples (a bound; 5 measured for
    # K = 12, tests/test_nn_blocks.py). Used by the chunked encoder/decoder bookkeeping.
    HALF_RECEPTIVE_FIELD = KERNEL_SIZE // 2

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.channels = channels
        taps = lowpass_taps(0.5 / RATIO, 0.6 / RATIO)
        self.register_buffer("up_taps", taps, persistent=False)
        self.register_buffer("down_taps", taps.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = upsample2(x, self.up_taps, self.channels)
        return downsample2(super().forward(up), self.down_taps, self.channels)


def snake(channels: int, anti_aliased: bool) -> SnakeBeta:
    """The activation a layer uses: anti-aliased at BigCodec's dimensions, plain otherwise."""
    return AntiAliasedSnakeBeta(channels) if anti_aliased else SnakeBeta(channels)
