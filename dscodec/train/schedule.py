"""Learning-rate schedule of both stages: linear warm-up, then linear decay to `lr_min`.

Paper §3.1: stage 1 uses lr 1e-4 with 1,000 warm-up steps "then decays linearly to 1e-5";
stage 2 decays linearly from 2e-5 to 1e-5 (no warm-up is stated; `warmup_steps: 0`).
The decay ends exactly at the stage's last step, so a shortened CPU schedule still spans
the paper's whole lr range.
"""
from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR


def lr_at(step: int, *, lr: float, lr_min: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate used for optimiser step `step` (0-based).

    Warm-up ramps (step + 1) / warmup_steps * lr so that the very first update is not
    wasted at lr 0; afterwards the rate falls linearly from `lr` (first post-warm-up step)
    to `lr_min` (last step, total_steps - 1) and stays there if training runs longer.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(total_steps - 1 - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return lr + (lr_min - lr) * progress


def warmup_linear_decay(
    optimizer: torch.optim.Optimizer, *, lr: float, lr_min: float, warmup_steps: int, total_steps: int
) -> LambdaLR:
    """LambdaLR following `lr_at`; the optimiser's param groups must have been built with `lr`.

    A LambdaLR (rather than a hand-written scheduler) keeps the state in the standard
    `state_dict()`, so checkpoints resume it exactly.
    """
    if lr <= 0 or lr_min < 0 or lr_min > lr:
        raise ValueError(f"need 0 <= lr_min <= lr and lr > 0, got lr={lr}, lr_min={lr_min}")
    if total_steps < 1 or warmup_steps < 0:
        raise ValueError(f"need total_steps >= 1 and warmup_steps >= 0, got {total_steps}, {warmup_steps}")

    def factor(step: int) -> float:
        return lr_at(step, lr=lr, lr_min=lr_min, warmup_steps=warmup_steps, total_steps=total_steps) / lr

    return LambdaLR(optimizer, factor)
