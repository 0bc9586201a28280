"""DS-Codec encoder (paper §2.1; dimensions from BigCodec `CodecEnc`).

    conv k7 (1 -> C)
    5 x [3 residual units (dilations 1, 3, 9) -> Snake -> strided conv k=2s (C -> 2C)], s = 2,2,2,5,5
    2-layer unidirectional LSTM with a residual connection
    Snake -> conv k3 -> latent (1024)

Total stride 200: 16 kHz -> 80 frames/s. The module is split into `pre` (convolutions,
finite receptive field), `lstm` (causal, stateful) and `post` (one k3 conv) so that
dscodec.models.streaming can run long files chunk by chunk with results identical to a
single pass.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dscodec.models.sizes import ModelSize
from dscodec.nn import ResidualUnit, ResLSTM, SnakeBeta, WNConv1d


class EncoderBlock(nn.Module):
    """Residual units at the input rate, then down-sample by `stride` (kernel 2*stride)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *(ResidualUnit(in_ch, d) for d in dilations),
            SnakeBeta(in_ch),
            WNConv1d(in_ch, out_ch, 2 * stride, stride=stride, padding=stride // 2 + stride % 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    def __init__(self, size: ModelSize) -> None:
        super().__init__()
        widths = size.encoder_channels
        self.hop_length = size.hop_length
        self.pre = nn.Sequential(
            WNConv1d(1, widths[0], 7, padding=3),
            *(
                EncoderBlock(widths[i], widths[i + 1], s, size.dilations)
                for i, s in enumerate(size.strides)
            ),
        )
        self.lstm = ResLSTM(widths[-1], size.lstm_layers)
        self.post = nn.Sequential(SnakeBeta(widths[-1]), WNConv1d(widths[-1], size.latent_dim, 3, padding=1))
        # receptive field of `pre`, in samples either side (conservative), for chunked encoding
        half_rf, scale = 3, 1
        for s in size.strides:
            half_rf += sum(ResidualUnit.half_receptive_field(d) for d in size.dilations) * scale
            half_rf += 2 * s * scale
            scale *= s
        self.pre_context_frames = math.ceil(half_rf / self.hop_length) + 1
        self.post_context_frames = 1

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, T] (T a multiple of the hop) -> latent [B, latent_dim, T / hop]."""
        return self.post(self.lstm(self.pre(wav)))
