"""ConvNeXt block over time (Liu et al. 2022, as Vocos' backbone): depthwise conv k7 -> LayerNorm
-> pointwise MLP (GELU) -> layer scale, added to the input. Used only by the frame-rate trunk
in front of the inverse-STFT head (dscodec/nn/istft.py), an option of the CPU sizes [ours].
The WavTokenizer port has a twin (`ports/wavtokenizer_model.py`), kept apart: its norm is conditioned
(AdaLayerNorm) and its parameter names must match the released checkpoint.
"""
from __future__ import annotations

import torch
from torch import nn

KERNEL_SIZE = 7


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, mult: int = 3, layer_scale: float = 0.1) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, KERNEL_SIZE, padding=KERNEL_SIZE // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mult * dim), nn.GELU(), nn.Linear(mult * dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, dim, F] -> [B, dim, F]."""
        y = self.mlp(self.norm(self.dwconv(x).transpose(1, 2)))
        return x + (self.gamma * y).transpose(1, 2)

    HALF_RECEPTIVE_FIELD = KERNEL_SIZE // 2


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a [B, C, F] tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)
