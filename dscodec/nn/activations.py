"""Snake-family activation (paper §2.1: "residual CNN with snake activations").

SnakeBeta (BigVGAN, used by BigCodec): x + 1/beta * sin^2(alpha * x) with per-channel,
log-scale alpha and beta. The periodic term gives the generator an inductive bias
towards periodic waveforms (pitch harmonics), which plain ReLU/ELU lacks.
BigCodec additionally wraps it in an anti-aliased up/down-sampling filter
(`Activation1d`); we use the plain activation [ours] to keep the CPU cost low.
"""
from __future__ import annotations

import torch
from torch import nn


class SnakeBeta(nn.Module):
    """Per-channel SnakeBeta on [B, C, T]; alpha and beta stored as logs (init 0 -> 1)."""

    def __init__(self, channels: int, eps: float = 1e-9) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(1, channels, 1))
        self.log_beta = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.log_alpha.exp()
        beta = self.log_beta.exp()
        return x + torch.sin(alpha * x).pow(2) / (beta + self.eps)
