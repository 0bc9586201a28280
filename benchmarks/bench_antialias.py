"""Anti-aliased SnakeBeta against the plain one, side by side: what `anti_aliased_activations` costs on CPU.

Why: `paper` size runs BigCodec's anti-aliased activations (dscodec/nn/antialias.py) so that its
released weights load; `small` and `tiny` keep them off for CPU cost. This prints, alternating the
two settings so that machine load hits both alike, (1) forward + backward of one activation at the
shape of the `small` decoder's last block (batch 4 x 1 s, 8 channels at 16 kHz) and (2) one
reconstruction-only (mel + VQ) training step of the whole `small` codec with the setting off and
on, and the ratio. CPU time of this process (`time.process_time`), 1 thread unless --threads.

    python benchmarks/bench_antialias.py [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from dscodec.nn.activations import SnakeBeta
from dscodec.nn.antialias import AntiAliasedSnakeBeta

from bench_snake import cpu_seconds, small_train_step  # this folder is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per setting")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(4, 8, 16000, requires_grad=True)
    grad = torch.randn_like(x)
    settings = {"plain": (SnakeBeta(8), small_train_step({"anti_aliased_activations": False})),
                "anti-aliased": (AntiAliasedSnakeBeta(8), small_train_step({"anti_aliased_activations": True}))}
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for name, (act, step) in settings.items():
            results.setdefault(("activation [4, 8, 16000] fwd+bwd", name), []).append(
                cpu_seconds(lambda: act(x).backward(grad), 10))
            results.setdefault(("small warm-up train step", name), []).append(cpu_seconds(step, 1))
    print(f"SnakeBeta plain vs anti-aliased, {args.threads} thread(s), median of {args.repeats} alternating rounds "
          "(CPU ms)")
    print("| what | plain | anti-aliased | cost |\n|---|---|---|---|")
    for what in dict.fromkeys(k[0] for k in results):
        a = statistics.median(results[(what, "plain")]) * 1e3
        b = statistics.median(results[(what, "anti-aliased")]) * 1e3
        print(f"| {what} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
