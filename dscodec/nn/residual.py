"""Dilated residual unit (paper §2.1; BigCodec/DAC `ResidualUnit`).

Snake -> conv k7 (dilation d) -> Snake -> conv k1, added to the input. Three of them with
dilations 1, 3, 9 per encoder/decoder block give a wide receptive field at each rate.
The Snakes are anti-aliased (dscodec/nn/antialias.py) when `anti_aliased` is set.
"""
from __future__ import annotations

import torch
from torch import nn

from dscodec.nn.antialias import AntiAliasedSnakeBeta, snake
from dscodec.nn.conv import WNConv1d

KERNEL_SIZE = 7


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, anti_aliased: bool = False) -> None:
        super().__init__()
        pad = (KERNEL_SIZE - 1) * dilation // 2  # "same" length: the codec is frame-synchronous
        self.block = nn.Sequential(
            snake(channels, anti_aliased),
            WNConv1d(channels, channels, KERNEL_SIZE, dilation=dilation, padding=pad),
            snake(channels, anti_aliased),
            WNConv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)

    @staticmethod
    def half_receptive_field(dilation: int, anti_aliased: bool = False) -> int:
        """Samples (at this unit's rate) each output sees on either side (a bound)."""
        activations = 2 * AntiAliasedSnakeBeta.HALF_RECEPTIVE_FIELD if anti_aliased else 0
        return (KERNEL_SIZE - 1) * dilation // 2 + activations
