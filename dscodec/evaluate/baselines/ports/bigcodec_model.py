"""BigCodec inference network (Xin et al., 2024, "BigCodec: Pushing the Limits of Low-Bitrate
Neural Speech Codec"), the architecture DS-Codec builds on (paper.md, "Architecture").

Re-implemented so that the released ``bigcodec.pt`` (``{"CodecEnc": encoder state, "generator":
decoder state}``, read that way by the official ``inference.py``) loads with ``strict=True``
without cloning the BigCodec repository. Names and nesting follow the official
``vq/codec_encoder.py``, ``vq/codec_decoder.py``, ``vq/module.py``, ``vq/residual_vq.py``,
``vq/factorized_vector_quantize.py`` and ``vq/alias_free_torch``: e.g. encoder
``block.1.block.0.block.0.act.alpha``, ``block.1.block.0.block.0.upsample.filter``,
``block.6.lstm.weight_ih_l0``; decoder ``quantizer.layers.0.in_proj.weight_g``,
``quantizer.layers.0._codebook.weight``, ``model.0.weight_v``. The anti-aliasing filters are
persistent buffers in the official code, so they are part of the state dict here too.
Training-only parts (losses, EMA dead-code handling) are left out.

Upstream: github.com/Aria-K-Alethia/BigCodec (MIT licence); a port, not DS-Codec code.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dscodec.evaluate.baselines.ports.dac_model import hook_weight_norm, wn_conv1d, wn_conv_transpose1d


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass [1, 1, K] (BigVGAN/alias-free-torch design, unit DC gain)."""
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, periodic=False, beta=beta)
    if kernel_size % 2 == 0:
        t = torch.arange(-half, half) + 0.5
    else:
        t = torch.arange(kernel_size) - half
    taps = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (taps / taps.sum()).view(1, 1, kernel_size)


class UpSample1d(nn.Module):
    """x2 polyphase up-sampling by a transposed depth-wise conv with the Kaiser-sinc filter."""

    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.ratio = ratio
        self.pad = kernel_size // ratio - 1
        self.crop_left = self.pad * ratio + (kernel_size - ratio) // 2
        self.crop_right = self.pad * ratio + (kernel_size - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = self.ratio * F.conv_transpose1d(x, self.filter.expand(channels, -1, -1), stride=self.ratio,
                                            groups=channels)
        return x[..., self.crop_left:-self.crop_right]


class LowPassFilter1d(nn.Module):
    def __init__(self, cutoff: float, half_width: float, stride: int, kernel_size: int = 12) -> None:
        super().__init__()
        even = kernel_size % 2 == 0
        self.pad_left = kernel_size // 2 - int(even)
        self.pad_right = kernel_size // 2
        self.stride = stride
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad_left, self.pad_right), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class DownSample1d(nn.Module):
    def __init__(self, ratio: int = 2, kernel_size: int = 12) -> None:
        super().__init__()
        self.lowpass = LowPassFilter1d(0.5 / ratio, 0.6 / ratio, ratio, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class SnakeBeta(nn.Module):
    """x + 1/exp(beta) * sin^2(exp(alpha) x); log-scale alpha, beta of shape [C] (official layout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.exp()[None, :, None]
        beta = self.beta.exp()[None, :, None]
        return x + (beta + 1e-9).reciprocal() * torch.sin(x * alpha).pow(2)


class Activation1d(nn.Module):
    """Anti-aliased SnakeBeta: up-sample x2, activate, low-pass and down-sample x2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = UpSample1d(2, 12)
        self.downsample = DownSample1d(2, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Activation1d(dim),
            wn_conv1d(dim, dim, kernel_size=7, dilation=dilation, padding=3 * dilation),
            Activation1d(dim),
            wn_conv1d(dim, dim, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, stride: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *[ResidualUnit(dim // 2, d) for d in dilations],
            Activation1d(dim // 2),
            wn_conv1d(dim // 2, dim, kernel_size=2 * stride, stride=stride, padding=stride // 2 + stride % 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class DecoderBlock(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, stride: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.block = nn.Sequential(
            Activation1d(input_dim),
            wn_conv_transpose1d(input_dim, output_dim, kernel_size=2 * stride, stride=stride,
                                padding=stride // 2 + stride % 2, output_padding=stride % 2),
            *[ResidualUnit(output_dim, d) for d in dilations],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ResLSTM(nn.Module):
    """Unidirectional multi-layer LSTM over time with a residual connection, on [B, C, T]."""

    def __init__(self, dim: int, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.transpose(1, 2)
        y, _ = self.lstm(seq)
        return (y + seq).transpose(1, 2)


class CodecEncoder(nn.Module):
    """Waveform [B, 1, T] -> latent [B, out_channels, T / prod(up_ratios)]."""

    def __init__(self, ngf: int = 48, rnn_num_layers: int = 2, up_ratios: Sequence[int] = (2, 2, 2, 5, 5),
                 dilations: Sequence[int] = (1, 3, 9), out_channels: int = 1024) -> None:
        super().__init__()
        d_model = ngf
        layers: list[nn.Module] = [wn_conv1d(1, d_model, kernel_size=7, padding=3)]
        for stride in up_ratios:
            d_model *= 2
            layers.append(EncoderBlock(d_model, stride, dilations))
        layers += [ResLSTM(d_model, rnn_num_layers), Activation1d(d_model),
                   wn_conv1d(d_model, out_channels, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*layers)
        self.hop_length = math.prod(up_ratios)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class FactorizedVectorQuantize(nn.Module):
    """Project to ``codebook_dim`` (weight-normed Linear), L2-normalised lookup, project back."""

    def __init__(self, dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        if dim == codebook_dim:  # the official module then has no projections (and no keys for them)
            self.in_proj: nn.Module = nn.Identity()
            self.out_proj: nn.Module = nn.Identity()
        else:
            self.in_proj = hook_weight_norm(nn.Linear(dim, codebook_dim))
            self.out_proj = hook_weight_norm(nn.Linear(codebook_dim, dim))
        self._codebook = nn.Embedding(codebook_size, codebook_dim)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [B, D, T] -> (quantised [B, D, T], codes [B, T])."""
        z_e = self.in_proj(z.transpose(1, 2))                                   # [B, T, d]
        sims = F.normalize(z_e, dim=-1) @ F.normalize(self._codebook.weight, dim=-1).t()
        codes = sims.argmax(-1)
        return self.out_proj(self._codebook(codes)).transpose(1, 2), codes


class ResidualVQ(nn.Module):
    def __init__(self, num_quantizers: int, dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [FactorizedVectorQuantize(dim, codebook_size, codebook_dim) for _ in range(num_quantizers)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (sum of stage outputs [B, D, T], codes [num_quantizers, B, T]) as officially stacked."""
        out = torch.zeros_like(x)
        residual = x
        codes = []
        for layer in self.layers:
            q, c = layer(residual)
            residual = residual - q
            out = out + q
            codes.append(c)
        return out, torch.stack(codes)


class CodecDecoder(nn.Module):
    """Owns the quantizer (as officially, under ``generator``) and the up-sampling generator ``model``."""

    def __init__(self, in_channels: int = 1024, upsample_initial_channel: int = 1536, rnn_num_layers: int = 2,
                 up_ratios: Sequence[int] = (5, 5, 2, 2, 2), dilations: Sequence[int] = (1, 3, 9),
                 vq_num_quantizers: int = 1, vq_dim: int = 1024, codebook_size: int = 8192,
                 codebook_dim: int = 8) -> None:
        super().__init__()
        self.quantizer = ResidualVQ(vq_num_quantizers, vq_dim, codebook_size, codebook_dim)
        channels = upsample_initial_channel
        layers: list[nn.Module] = [wn_conv1d(in_channels, channels, kernel_size=7, padding=3),
                                   ResLSTM(channels, rnn_num_layers)]
        output_dim = channels
        for i, stride in enumerate(up_ratios):
            output_dim = channels // 2 ** (i + 1)
            layers.append(DecoderBlock(channels // 2**i, output_dim, stride, dilations))
        layers += [Activation1d(output_dim), wn_conv1d(output_dim, 1, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def quantize(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.quantizer(latent)

    def forward(self, quantized: torch.Tensor) -> torch.Tensor:
        return self.model(quantized)


# Constructor arguments of the released checkpoint (the official defaults, used by inference.py).
ENCODER_KWARGS: dict = dict(ngf=48, rnn_num_layers=2, up_ratios=(2, 2, 2, 5, 5), dilations=(1, 3, 9),
                            out_channels=1024)
DECODER_KWARGS: dict = dict(in_channels=1024, upsample_initial_channel=1536, rnn_num_layers=2,
                            up_ratios=(5, 5, 2, 2, 2), dilations=(1, 3, 9), vq_num_quantizers=1, vq_dim=1024,
                            codebook_size=8192, codebook_dim=8)
