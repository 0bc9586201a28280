"""How close to real time can the `paper` codec get on this machine at all? (issue 14, a probe)

Issue 14 asks for RTF <= 0.20 (encode and decode, 2 threads, 10 s clips) at `paper` size. This
probe bounds from below the time any implementation needs on this CPU, so the measured RTF can
be read against what the hardware allows, not only against the target:

- **compute**: the floating-point operations of every convolution, matrix product and attention
  in `encode` / `decode` (`torch.utils.flop_counter.FlopCounterMode` over the folded inference
  model, which does not see `nn.LSTM`; the LSTM input projections, 8 h x in per layer and frame,
  are added by hand, its recurrent products are the next part), at the machine's best
  fp32 matrix-product rate, measured here (a 2048^3 `torch.mm`, best of 5). Convolutions with few
  channels and depthwise filters never reach that rate, so this part is optimistic.
- **recurrence**: an LSTM's frames run one after another, and each frame multiplies the
  recurrent matrix (4h x h) by the previous output. The probe times exactly that primitive, one
  fp32 matrix-vector product per layer and frame over the model's own matrices' shapes, with the
  matrices as warm in cache as they can be (a floor for any fp32 LSTM kernel on this machine).
- **memory**: every SnakeBeta must at least read its input and write its output once (a perfectly
  fused kernel), at the machine's streaming bandwidth (a 512 MiB tensor copy, bytes read + written
  per second).

The bound is the sum of the three (layers run one after another). It then times the folded PyTorch
model (what `DSCodec` runs) on the same signal and breaks its time down by operator with
`torch.profiler`, so one sees where the gap to the bound is.

    python benchmarks/probe_roofline.py                  # paper size, 10 s, 2 threads
    python benchmarks/probe_roofline.py --size small

Random weights: FLOPs and bytes do not depend on them, and the time barely does.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dscodec.models import CodecModel, get_size
from dscodec.models.inference import for_inference
from dscodec.nn.activations import SnakeBeta

TARGET_RTF = 0.20


def best_of(fn, repeats: int) -> float:
    """Fastest of `repeats` wall-clock runs of fn(), after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine_rates(repeats: int) -> tuple[float, float]:
    """(fp32 matrix-product FLOP/s, streaming copy bytes/s) of this machine at the current threads."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    flops = 2 * 2048 ** 3 / best_of(lambda: a @ b, repeats)
    src = torch.empty(128 * 2 ** 20)   # 512 MiB, far past any cache
    dst = torch.empty_like(src)
    src.normal_()
    bandwidth = 2 * src.numel() * 4 / best_of(lambda: dst.copy_(src), repeats)
    return flops, bandwidth


def lstm_layers(model: nn.Module) -> list[tuple[int, int]]:
    """(input size, hidden size) of every LSTM layer in `model`."""
    return [(m.input_size if layer == 0 else m.hidden_size, m.hidden_size)
            for m in model.modules() if isinstance(m, nn.LSTM) for layer in range(m.num_layers)]


def input_projection_flops(layers: list[tuple[int, int]], frames: int) -> float:
    """FLOPs of the LSTM input projections (4h x in per frame: one matrix product over all frames)."""
    return sum(8.0 * h * inp * frames for inp, h in layers)


def recurrence_seconds(layers: list[tuple[int, int]], frames: int, repeats: int) -> float:
    """Time of the serial part: one (4h x h) @ (h,) product per layer and frame, in frame order."""
    if not layers:
        return 0.0
    mats = [torch.randn(4 * h, h) / h ** 0.5 for _, h in layers]

    def run() -> None:
        state = [torch.zeros(h) for _, h in layers]
        for _ in range(frames):
            for i, w in enumerate(mats):
                state[i] = torch.tanh(torch.mv(w, state[i])[: state[i].numel()])

    return best_of(run, repeats)


def counted_flops(fn, *args) -> tuple[float, dict[str, float]]:
    """Total FLOPs FlopCounterMode attributes to fn(*args), and the split by aten operator."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args)
    by_op: dict[str, float] = defaultdict(float)
    for op, n in counter.get_flop_counts().get("Global", {}).items():
        by_op[str(op).split(".")[1] if "." in str(op) else str(op)] += n
    return float(counter.get_total_flops()), dict(by_op)


def activation_elements(model: nn.Module, fn, *args) -> int:
    """Elements entering every SnakeBeta (at the layer's own rate) during fn(*args)."""
    total = 0

    def hook(_module, inputs, _output):
        nonlocal total
        total += inputs[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, SnakeBeta)]
    try:
        fn(*args)
    finally:
        for handle in handles:
            handle.remove()
    return total


def profile_split(fn, *args) -> list[tuple[str, float]]:
    """Self CPU seconds by operator for one run of fn(*args), largest first."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(*args)
    rows = [(e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()]
    return sorted(rows, key=lambda r: -r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="paper")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = for_inference(CodecModel(get_size(args.size), quantizer="vq", decoder="transformer"))
    sr, hop = model.sample_rate, model.hop_length
    n = int(sr * args.seconds) // hop * hop
    t = torch.arange(n) / sr
    wav = (0.3 * torch.sin(2 * torch.pi * 140 * t) + 0.02 * torch.randn(n)).view(1, 1, n)
    frames = n // hop

    with torch.inference_mode():
        codes = model.encode(wav)
        flop_rate, bandwidth = machine_rates(args.repeats)
        print(f"machine, {args.threads} threads: fp32 mm {flop_rate / 1e9:.0f} GFLOP/s, "
              f"copy {bandwidth / 1e9:.1f} GB/s (read + write)")
        print(f"model: {args.size}, {args.seconds:.0f} s signal, {frames} frames\n")
        rows = []
        for op, part, fn, arg in (("encode", model.encoder, model.encode, wav),
                                  ("decode", model.decoder, model.decode, codes)):
            flops, by_op = counted_flops(fn, arg)
            layers = lstm_layers(part)
            if any("lstm" in key or "rnn" in key for key in by_op):
                raise RuntimeError(f"FlopCounterMode now counts the LSTM ({sorted(by_op)}): drop the analytic count")
            compute = flops + input_projection_flops(layers, frames)
            recurrence_s = recurrence_seconds(layers, frames, args.repeats)
            snake_bytes = 8.0 * activation_elements(part, fn, arg)
            bound_s = compute / flop_rate + recurrence_s + snake_bytes / bandwidth
            measured_s = best_of(lambda: fn(arg), args.repeats)
            split = profile_split(fn, arg)
            rows.append((op, compute, recurrence_s, snake_bytes, bound_s, measured_s))
            print(f"{op}: {compute / args.seconds / 1e9:.1f} GFLOP per audio second "
                  f"({flops / 1e9:.1f} GFLOP counted + LSTM input projections of {len(layers)} layers), "
                  f"recurrence floor {recurrence_s / args.seconds:.3f} s per audio second, "
                  f"SnakeBeta in+out {snake_bytes / 2**20 / args.seconds:.0f} MiB per audio second")
            print("  counted FLOPs by operator: " + ", ".join(
                f"{k} {v / flops:.0%}" for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])))
            total = sum(s for _, s in split)
            print("  measured time by operator (self CPU, profiler): " + ", ".join(
                f"{k} {s / total:.0%}" for k, s in split[:8]))
        print("\n| op | GFLOP per audio s | compute floor RTF | recurrence floor RTF | SnakeBeta floor RTF "
              "| lower-bound RTF | measured RTF (folded PyTorch) | measured / bound | target |")
        print("|---|---|---|---|---|---|---|---|---|")
        for op, compute, recurrence_s, snake_bytes, bound_s, measured_s in rows:
            sec = args.seconds
            print(f"| {op} | {compute / sec / 1e9:.1f} | {compute / flop_rate / sec:.3f} | {recurrence_s / sec:.3f} "
                  f"| {snake_bytes / bandwidth / sec:.3f} | {bound_s / sec:.3f} "
                  f"| {measured_s / sec:.3f} | {measured_s / bound_s:.1f} | {TARGET_RTF:.2f} |")


if __name__ == "__main__":
    main()
