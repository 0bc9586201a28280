"""Codec inference benchmark: real-time factor and peak memory, DS-Codec vs EnCodec.

Measures encode and decode for the DS-Codec `paper` and `small` sizes (VQ quantizer,
non-mirrored decoder, i.e. the model a stage-2 run ships) at 1 and 2 threads, next to
EnCodec's 24 kHz model at 1.5 kbps built with random weights (`pretrained=False`:
speed does not depend on the weights), and prints DS-Codec / EnCodec ratios.

Each (model, operation, threads) runs in a fresh subprocess so that peak memory
(ru_maxrss) belongs to that one operation; "peak MB" is the process's peak resident
memory minus its resident memory after the imports (weights + activations).
RTF = processing time / audio duration (below 1 = faster than real time).

    python benchmarks/bench_codec.py                       # print the table
    python benchmarks/bench_codec.py --write benchmarks/RESULTS.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

SECTION = "## Codec inference"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(model_name: str, op: str, threads: int, seconds: float, repeats: int) -> dict:
    import resource

    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base_mb = _rss_mb()
    if model_name == "encodec":
        from encodec import EncodecModel

        model = EncodecModel.encodec_model_24khz(pretrained=False).eval()
        model.set_target_bandwidth(1.5)
        sr = model.sample_rate
        wav = torch.randn(1, 1, int(seconds * sr)) * 0.1
        n_q = int(1000 * model.bandwidth // (model.frame_rate * 10))  # 1.5 kbps -> 2 codebooks of 10 bits
        # random tokens (not an encode) so the decode process's peak memory is the decoder's own
        frames = [(torch.randint(0, model.quantizer.bins, (1, n_q, int(seconds * model.frame_rate))), None)]
        encode = lambda x: model.encode(x)  # noqa: E731
        decode = lambda f: model.decode(f)  # noqa: E731
    else:
        from dscodec.codec_api import DSCodec
        from dscodec.models import CodecModel, get_size

        codec = DSCodec(CodecModel(get_size(model_name), "vq", "transformer"))
        sr = codec.sample_rate
        wav = torch.randn(1, int(seconds * sr)) * 0.1
        frames = torch.randint(0, codec.codebook_size, (1, int(seconds * codec.frame_rate)))
        encode = lambda x: codec.encode(x, sr)  # noqa: E731
        decode = codec.decode
    fn, arg = (encode, wav) if op == "encode" else (decode, frames)
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            fn(arg)
            times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": model_name, "op": op, "threads": threads, "seconds": seconds,
            "rtf": min(times) / seconds, "peak_mb": peak_mb - base_mb}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {mem_gb:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__} (CPU), load average {load:.1f} at start")


def run_all(args: argparse.Namespace) -> list[dict]:
    rows = []
    for model_name in [*args.sizes, "encodec"]:
        for threads in args.threads:
            for op in ("encode", "decode"):
                cmd = [sys.executable, __file__, "--worker", model_name, op, str(threads),
                       "--seconds", str(args.seconds), "--repeats", str(args.repeats)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                print(f"{model_name:8s} {op:6s} threads={threads}: RTF {row['rtf']:.3f}, peak {row['peak_mb']:.0f} MB",
                      flush=True)
                rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    ref = {(r["op"], r["threads"]): r for r in rows if r["model"] == "encodec"}
    lines = ["| model | op | threads | RTF | x EnCodec RTF | peak MB | x EnCodec MB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        e = ref[(r["op"], r["threads"])]
        lines.append(
            f"| {r['model']} | {r['op']} | {r['threads']} | {r['rtf']:.3f} | {r['rtf'] / e['rtf']:.2f} | "
            f"{r['peak_mb']:.0f} | {r['peak_mb'] / e['peak_mb']:.2f} |"
        )
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    """Replace (or append) the '## Codec inference' section, keeping other sections."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start >= 0:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + (text[nxt:] if nxt >= 0 else "\n")
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "OP", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", default=["paper", "small"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seconds", type=float, default=5.0, help="audio duration per run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs (the first also warms up); best is kept")
    parser.add_argument("--write", type=Path, default=None, help="update this RESULTS.md")
    args = parser.parse_args()
    if args.worker:
        model_name, op, threads = args.worker
        print(json.dumps(worker(model_name, op, int(threads), args.seconds, args.repeats)))
        return
    desc = machine()
    print(desc)
    rows = run_all(args)
    md = table(rows)
    print(md)
    if args.write:
        body = (
            f"{SECTION}\n\n"
            f"`python benchmarks/bench_codec.py --seconds {args.seconds:g} --repeats {args.repeats}` "
            f"({time.strftime('%Y-%m-%d')}).\n\nMachine: {desc}.\n\n"
            "DS-Codec: VQ quantizer + non-mirrored decoder through `DSCodec` (10 s chunks), random weights. "
            "EnCodec: 24 kHz model at 1.5 kbps, random weights (`pretrained=False`). RTF = processing time / "
            f"audio duration ({args.seconds:g} s of audio, best of {args.repeats}); peak MB = peak resident memory "
            "of a fresh process for that one operation minus its memory after imports. "
            "The machine is shared, so timings carry noise from other jobs.\n\n" + md + "\n"
        )
        write_section(args.write, body)


if __name__ == "__main__":
    main()
