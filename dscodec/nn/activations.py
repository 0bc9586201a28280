"""Snake-family activation (paper §2.1: "residual CNN with snake activations").

SnakeBeta (BigVGAN, used by BigCodec): x + 1/beta * sin^2(alpha * x) with per-channel,
log-scale alpha and beta. The periodic term gives the generator an inductive bias
towards periodic waveforms (pitch harmonics), which plain ReLU/ELU lacks.
BigCodec additionally wraps it in an anti-aliased up/down-sampling filter
(`Activation1d`); so do we at `paper` size (dscodec/nn/antialias.py), while `small` and
`tiny` use the plain activation [ours] to keep the CPU cost low.

Why a hand-written backward: at `small` size the activations at 16 kHz are a third of a
training step's CPU time, and most of that is autograd storing and re-reading the
intermediates of six element-wise ops. `SnakeBetaFunction` keeps only the input and
recomputes sin(2 alpha x) in the backward pass (sin^2 = (1 - cos 2ax) / 2, d/dx sin^2 ax =
alpha sin 2ax), which halves the activation's CPU time (benchmarks/bench_snake.py) and gives
the same values and gradients (tests/test_nn_blocks.py checks both against the formula).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SnakeBetaFunction(torch.autograd.Function):
    """y = x + exp(-log_beta) * sin^2(exp(log_alpha) * x); x [B, C, T], logs [1, C, 1]."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, log_alpha: torch.Tensor, log_beta: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, log_alpha, log_beta)
        # in place on the one temporary: the same operations (bit-identical output) with two fewer
        # full-size allocations; ~1.2x CPU on inference activations (benchmarks/RESULTS.md, SnakeBeta)
        s = x * log_alpha.exp()
        s.sin_()
        s.square_()
        return torch.addcmul(x, s, (-log_beta).exp())

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, log_alpha, log_beta = ctx.saved_tensors
        alpha, inv_beta = log_alpha.exp(), (-log_beta).exp()
        two_ax = x * (2 * alpha)
        sin_2ax = torch.sin(two_ax)
        grad_x = torch.addcmul(grad, grad * sin_2ax, alpha * inv_beta)
        dims = [d for d in range(x.dim()) if log_alpha.shape[d] == 1]
        # d/d(log alpha) = alpha * d/d alpha;  d/d(log beta) = -inv_beta * sin^2(ax)
        grad_log_alpha = (grad * x * sin_2ax).sum(dims, keepdim=True) * (alpha * inv_beta)
        grad_log_beta = -(grad * (1 - torch.cos(two_ax))).sum(dims, keepdim=True) * (0.5 * inv_beta)
        return grad_x, grad_log_alpha.to(log_alpha.dtype), grad_log_beta.to(log_beta.dtype)


class SnakeBeta(nn.Module):
    """Per-channel SnakeBeta on [B, C, T]; alpha and beta stored as logs (init 0 -> 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(1, channels, 1))
        self.log_beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SnakeBetaFunction.apply(x, self.log_alpha, self.log_beta)
