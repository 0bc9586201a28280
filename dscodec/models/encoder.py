"""DS-Codec encoder (paper §2.1; dimensions from BigCodec `CodecEnc`).

    conv k7 (1 -> C)
    5 x [3 residual units (dilations 1, 3, 9) -> Snake -> strided conv k=2s (C -> 2C)], s = 2,2,2,5,5
    2-layer unidirectional LSTM with a residual connection
    Snake -> conv k3 -> latent (1024)

Each Snake is anti-aliased as in BigCodec when `size.anti_aliased_activations` is set
(dscodec/nn/antialias.py). Total stride 200: 16 kHz -> 80 frames/s. The module is split into `pre` (convolutions,
finite receptive field), `lstm` (causal, stateful) and `post` (one k3 conv) so that
dscodec.models.streaming can run long files chunk by chunk with results identical to a
single pass.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from dscodec.models.sizes import ModelSize
from dscodec.nn import ResidualUnit, ResLSTM, WNConv1d
from dscodec.nn.antialias import AntiAliasedSnakeBeta, snake


class EncoderBlock(nn.Module):
    """Residual units at the input rate, then down-sample by `stride` (kernel 2*stride)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilations: tuple[int, ...],
                 anti_aliased: bool = False) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *(ResidualUnit(in_ch, d, anti_aliased) for d in dilations),
            snake(in_ch, anti_aliased),
            WNConv1d(in_ch, out_ch, 2 * stride, stride=stride, padding=stride // 2 + stride % 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Encoder(nn.Module):
    def __init__(self, size: ModelSize) -> None:
        super().__init__()
        widths = size.encoder_channels
        aa = size.anti_aliased_activations
        self.hop_length = size.hop_length
        self.pre = nn.Sequential(
            WNConv1d(1, widths[0], 7, padding=3),
            *(
                EncoderBlock(widths[i], widths[i + 1], s, size.dilations, aa)
                for i, s in enumerate(size.strides)
            ),
        )
        self.lstm = ResLSTM(widths[-1], size.lstm_layers)
        self.post = nn.Sequential(snake(widths[-1], aa), WNConv1d(widths[-1], size.latent_dim, 3, padding=1))
        # receptive field of `pre`, in samples either side (conservative), for chunked encoding
        act = AntiAliasedSnakeBeta.HALF_RECEPTIVE_FIELD if aa else 0
        half_rf, scale = 3, 1
        for s in size.strides:
            half_rf += sum(ResidualUnit.half_receptive_field(d, aa) for d in size.dilations) * scale
            half_rf += (act + 2 * s) * scale  # the block's Snake, then its strided conv
            scale *= s
        self.pre_context_frames = math.ceil(half_rf / self.hop_length) + 1
        self.post_context_frames = 1 + act  # the k3 conv, after the Snake at the frame rate

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, T] (T a multiple of the hop) -> latent [B, latent_dim, T / hop]."""
        return self.post(self.lstm(self.pre(wav)))
