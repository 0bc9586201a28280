"""SnakeBeta: the hand-written backward against plain autograd of the same formula, side by side.

Why: at `small` size the Snake activations at 16 kHz are about a third of a training step's CPU
time. This prints, in one run and alternating the two implementations so that machine load hits
both alike, (1) forward + backward of one activation at the shape of the decoder's last block
(batch 4 x 1 s, 8 channels at 16 kHz) and (2) one reconstruction-only (mel + VQ) training step of
the whole `small` codec, and the ratio. CPU time of this process (`time.process_time`), 1 thread
unless --threads.

    python benchmarks/bench_snake.py [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from typing import Callable, Iterator

import torch

from dscodec.losses import MelReconstructionLoss, VQLossWeights
from dscodec.models.codec import CodecModel
from dscodec.models.sizes import get_size
from dscodec.nn import activations


def snake_by_autograd(self: activations.SnakeBeta, x: torch.Tensor) -> torch.Tensor:
    """The formula as plain autograd ops (what the module did before the hand-written backward)."""
    return x + torch.sin(self.log_alpha.exp() * x).pow(2) / self.log_beta.exp()


def forward_out_of_place(ctx, x: torch.Tensor, log_alpha: torch.Tensor, log_beta: torch.Tensor) -> torch.Tensor:
    """SnakeBetaFunction.forward before 2026-12-03: the same operations, each into a new tensor."""
    ctx.save_for_backward(x, log_alpha, log_beta)
    s = torch.sin(x * log_alpha.exp())
    return torch.addcmul(x, s * s, (-log_beta).exp())


IMPLEMENTATIONS = ("autograd", "out-of-place", "hand-written")


@contextlib.contextmanager
def implementation(name: str) -> Iterator[None]:
    """autograd: the formula; out-of-place: the hand-written backward with the former forward;
    hand-written: today's SnakeBetaFunction (in-place forward on its one temporary)."""
    original, original_fwd = activations.SnakeBeta.forward, activations.SnakeBetaFunction.forward
    if name == "autograd":
        activations.SnakeBeta.forward = snake_by_autograd  # type: ignore[method-assign]
    elif name == "out-of-place":
        activations.SnakeBetaFunction.forward = staticmethod(forward_out_of_place)  # type: ignore[method-assign]
    try:
        yield
    finally:
        activations.SnakeBeta.forward = original  # type: ignore[method-assign]
        activations.SnakeBetaFunction.forward = original_fwd  # type: ignore[method-assign]


def cpu_seconds(fn: Callable[[], None], n: int) -> float:
    fn()  # warm-up (allocator, oneDNN primitives)
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n


def small_train_step(overrides: dict, *, dead_code_reset: bool = False) -> Callable[[], None]:
    """One generator step of the `small` model (mel + VQ loss, AdamW) on a fixed batch 4 x 1 s;
    shared with bench_antialias.py so both time the same step. `dead_code_reset` as `train.dead_code_reset`."""
    model = CodecModel(get_size("small", overrides), quantizer="vq", decoder="mirror",
                       dead_code_reset=dead_code_reset)
    mel, vq_loss = MelReconstructionLoss(), VQLossWeights()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    wav = 0.1 * torch.randn(4, 1, 16000)

    def step() -> None:
        out = model(wav)
        loss = 15.0 * mel(out.recon, wav) + vq_loss(out.commit_loss, out.codebook_loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds per implementation")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    snake = activations.SnakeBeta(8)
    x = torch.randn(4, 8, 16000, requires_grad=True)
    grad = torch.randn_like(x)

    def activation_step() -> None:
        snake(x).backward(grad)

    long = torch.randn(1, 8, 160000)       # 10 s of 8 channels at 16 kHz, no grad (the evaluation's case)

    def inference_step() -> None:
        with torch.inference_mode():
            snake(long)

    train_step = small_train_step({}, dead_code_reset=True)

    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for impl in IMPLEMENTATIONS:
            with implementation(impl):
                results.setdefault(("activation [4, 8, 16000] fwd+bwd", impl), []).append(cpu_seconds(activation_step, 20))
                results.setdefault(("activation [1, 8, 160000] forward, inference", impl), []).append(
                    cpu_seconds(inference_step, 20))
                results.setdefault(("small warm-up train step", impl), []).append(cpu_seconds(train_step, 1))
    print(f"SnakeBeta, {args.threads} thread(s), median of {args.repeats} alternating rounds (CPU ms)")
    print("| what | autograd | out-of-place | hand-written | x autograd | x out-of-place |\n|---|---|---|---|---|---|")
    for what in dict.fromkeys(k[0] for k in results):
        a, o, b = (statistics.median(results[(what, impl)]) * 1e3 for impl in IMPLEMENTATIONS)
        print(f"| {what} | {a:.1f} | {o:.1f} | {b:.1f} | {a / b:.2f}x | {o / b:.2f}x |")


if __name__ == "__main__":
    main()
