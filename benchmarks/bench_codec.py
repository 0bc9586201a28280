"""Codec inference benchmark: real-time factor and peak memory, DS-Codec vs EnCodec.

Measures encode and decode of 10 s clips for the DS-Codec `paper` and `small` sizes (VQ
quantizer, non-mirrored decoder, i.e. the model a stage-2 run ships), in three variants
side by side, next to EnCodec's 24 kHz model at 1.5 kbps built with random weights
(`pretrained=False`: speed does not depend on the weights):

- `today`: the code path before issue 14 (weight norm recomputed on every call,
  `DSCodec(..., fold_weight_norm=False)`);
- `folded`: the current PyTorch path (weight norm folded into plain weights);
- `onnx`: the graphs written by `dscodec export`, run by onnxruntime (`backend="onnx"`).

It prints wall-clock and CPU (process) time as RTFs, peak memory, and the ratios to EnCodec
and to `today` from the same run. Then it encodes and decodes one long file (10 minutes by
default, `--long-size`, chunked PyTorch path) and prints its peak memory next to the 10 s
clip's and a 1-minute file's, both through the library's in-memory calls (`encode`: the
whole waveform is the caller's tensor; `decode`: `decode_stream` over a token tensor, pieces
dropped) and file to file as `dscodec encode` / `dscodec decode` run them (`encode_file`: a
16 kHz WAV read chunk by chunk into a .dsc; `decode_file`: a .dsc looked up and decoded chunk
by chunk into a WAV). The file paths hold no whole-file waveform or latent, so their peak
memory should not grow with the file's length; the in-memory `encode` grows by its input.

Each (model, variant, operation, threads) runs in a fresh subprocess so that peak memory
(VmHWM) belongs to that one operation; "peak MB" is the process's peak resident
memory minus its resident memory after the imports (weights + activations).
RTF = processing time / audio duration (below 1 = faster than real time).

    python benchmarks/bench_codec.py                       # print the tables (~3 min on 2 idle cores)
    python benchmarks/bench_codec.py --write benchmarks/RESULTS.md
    python benchmarks/bench_codec.py --long-only --long-seconds 60 600 1800   # long files only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECTION = "## Codec inference"
# long-file operations: the library's in-memory calls (the caller holds the whole waveform /
# token array) next to the file-to-file paths of `dscodec encode` / `decode`
LONG_OPS = ("encode", "encode_file", "decode", "decode_file")
FILE_OPS = ("encode_file", "decode_file")  # their input is a file written by the worker, not a tensor


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(model_name: str, variant: str, op: str, threads: int, seconds: float, repeats: int,
           onnx_dir: str | None = None) -> dict:
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

        if variant == "onnx":
            codec = DSCodec.from_checkpoint(onnx_dir, backend="onnx", threads=threads)
        else:
            codec = DSCodec(CodecModel(get_size(model_name), "vq", "transformer"),
                            fold_weight_norm=variant != "today")
        sr = codec.sample_rate
        wav = None if op in FILE_OPS else torch.randn(1, int(seconds * sr)) * 0.1
        frames = None if op in FILE_OPS else torch.randint(0, codec.codebook_size, (1, int(seconds * codec.frame_rate)))
        encode = lambda x: codec.encode(x, sr)  # noqa: E731

        def decode(tokens: torch.Tensor) -> None:
            for _ in codec.decode_stream(tokens):  # pieces dropped as `dscodec decode` writes them out
                pass
    if op in FILE_OPS:
        fn, arg = _file_op(codec, op, seconds)
    else:
        fn, arg = (encode, wav) if op == "encode" else (decode, frames)
    walls, cpus = [], []
    with torch.inference_mode():
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            fn(arg)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    peak_mb = peak_rss_mb()
    if op in FILE_OPS:  # a 30-minute input is ~58 MB of WAV: not left behind in /tmp
        shutil.rmtree(arg[0].parent, ignore_errors=True)
    return {"model": model_name, "variant": variant, "op": op, "threads": threads, "seconds": seconds,
            "rtf": min(walls) / seconds, "cpu_rtf": min(cpus) / seconds, "peak_mb": peak_mb - base_mb}


def _file_op(codec, op: str, seconds: float):
    """(fn, arg) for the file-to-file operations of `dscodec encode` / `decode` on `seconds` of
    audio; the input file is written block by block, so writing it adds little to the peak."""
    import tempfile

    import numpy as np
    import soundfile as sf
    import torch

    from dscodec import bitstream
    from dscodec.commands.decode import decode_file
    from dscodec.commands.encode import encode_file

    folder = Path(tempfile.mkdtemp(prefix="bench_codec_file_"))
    sr, n = codec.sample_rate, int(seconds * codec.sample_rate)
    if op == "encode_file":
        source, target = folder / "in.wav", folder / "out.dsc"
        rng = np.random.default_rng(0)
        with sf.SoundFile(source, "w", samplerate=sr, channels=1, subtype="PCM_16") as out:
            for start in range(0, n, sr):
                out.write((rng.standard_normal(min(sr, n - start)) * 0.1).astype(np.float32))
    else:
        source, target = folder / "in.dsc", folder / "out.wav"
        frames = -(-n // codec.hop_length)
        tokens = torch.randint(0, codec.codebook_size, (frames,))
        bitstream.write(source, bitstream.Bitstream(tokens, sr, codec.hop_length, codec.codebook_size, n,
                                                    quantizer=codec.quantizer_kind, fingerprint=codec.fingerprint))
        del tokens
    run = encode_file if op == "encode_file" else decode_file
    return (lambda pair: run(codec, *pair)), (source, target)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB.

    Why not `ru_maxrss`: Linux keeps it across fork and execve, so every worker started by a
    parent that had grown (e.g. to export the paper-size ONNX graphs) reported the parent's peak;
    VmHWM belongs to the worker's own address space, which execve makes new."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the best there is


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


def _run_worker(model_name: str, variant: str, op: str, threads: int, seconds: float, repeats: int,
                onnx_dir: str | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", model_name, variant, op, str(threads),
           "--seconds", str(seconds), "--repeats", str(repeats)]
    if onnx_dir:
        cmd += ["--onnx-dir", onnx_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    print(f"{model_name:8s} {variant:6s} {op:6s} threads={threads} {seconds:g} s: RTF {row['rtf']:.3f} wall, "
          f"{row['cpu_rtf']:.3f} CPU, peak {row['peak_mb']:.0f} MB", flush=True)
    return row


def export_random_model(size: str, folder: Path) -> str:
    """ONNX graphs of a randomly initialised model of `size` (export time is not benchmarked)."""
    import torch

    from dscodec.models import CodecModel, get_size
    from dscodec.onnx_export import export_onnx

    torch.manual_seed(0)
    export_onnx(CodecModel(get_size(size), "vq", "transformer"), folder)
    return str(folder)


def run_all(args: argparse.Namespace, tmp: Path) -> list[dict]:
    rows = []
    for model_name in [*args.sizes, "encodec"]:
        variants = ["none"] if model_name == "encodec" else args.variants
        onnx_dir = export_random_model(model_name, tmp / model_name) if "onnx" in variants else None
        for variant in variants:
            for threads in args.threads:
                for op in ("encode", "decode"):
                    rows.append(_run_worker(model_name, variant, op, threads, args.seconds, args.repeats,
                                            onnx_dir if variant == "onnx" else None))
    return rows


def table(rows: list[dict]) -> str:
    ref = {(r["op"], r["threads"]): r for r in rows if r["model"] == "encodec"}
    today = {(r["model"], r["op"], r["threads"]): r for r in rows if r["variant"] == "today"}
    lines = ["| model | variant | op | threads | RTF wall | RTF CPU | x EnCodec RTF (wall / CPU) | x today RTF (wall / CPU) "
             "| peak MB | x EnCodec MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = ref[(r["op"], r["threads"])]
        t = today.get((r["model"], r["op"], r["threads"]))
        vs_today = f"{r['rtf'] / t['rtf']:.2f} / {r['cpu_rtf'] / t['cpu_rtf']:.2f}" if t else "-"
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['op']} | {r['threads']} | {r['rtf']:.3f} | {r['cpu_rtf']:.3f} | "
            f"{r['rtf'] / e['rtf']:.2f} / {r['cpu_rtf'] / e['cpu_rtf']:.2f} | {vs_today} | "
            f"{r['peak_mb']:.0f} | {r['peak_mb'] / e['peak_mb']:.2f} |"
        )
    return "\n".join(lines)


def long_table(args: argparse.Namespace) -> str:
    """Peak memory of long files next to a clip, file to file (chunked PyTorch path, folded weights)."""
    rows = [_run_worker(args.long_size, "folded", op, args.threads[-1], seconds, 1, None)
            for seconds in (args.seconds, *args.long_seconds) for op in LONG_OPS]
    lines = ["| model | op | threads | audio s | RTF wall | RTF CPU | peak MB | x clip MB |", "|---|---|---|---|---|---|---|---|"]
    clip = {r["op"]: r for r in rows if r["seconds"] == args.seconds}
    for r in rows:
        lines.append(f"| {r['model']} | {r['op']} | {r['threads']} | {r['seconds']:g} | {r['rtf']:.3f} | "
                     f"{r['cpu_rtf']:.3f} | {r['peak_mb']:.0f} | {r['peak_mb'] / clip[r['op']]['peak_mb']:.2f} |")
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
    parser.add_argument("--worker", nargs=4, metavar=("MODEL", "VARIANT", "OP", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--onnx-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", nargs="+", default=["paper", "small"])
    parser.add_argument("--variants", nargs="+", choices=["today", "folded", "onnx"], default=["today", "folded", "onnx"])
    parser.add_argument("--threads", nargs="+", type=int, default=[2])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio duration per run")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs (the first also warms up); best is kept")
    parser.add_argument("--long-size", default="small", help="model size for the long-file memory run")
    parser.add_argument("--long-seconds", type=float, nargs="+", default=[60.0, 600.0],
                        help="long-file durations (0: skip)")
    parser.add_argument("--long-only", action="store_true", help="print the long-file table only (not written)")
    parser.add_argument("--write", type=Path, default=None, help="update this RESULTS.md")
    args = parser.parse_args()
    if args.worker:
        model_name, variant, op, threads = args.worker
        print(json.dumps(worker(model_name, variant, op, int(threads), args.seconds, args.repeats, args.onnx_dir)))
        return
    desc = machine()
    print(desc)
    if args.long_only:  # the long-file table alone (minutes, where the full run takes ~40 at `paper` size)
        args.long_seconds = [x for x in args.long_seconds if x > 0] or [600.0]
        print(long_table(args))
        return
    with tempfile.TemporaryDirectory(prefix="bench_codec_") as tmp:
        md = table(run_all(args, Path(tmp)))
    print(md)
    args.long_seconds = [x for x in args.long_seconds if x > 0]
    long_md = long_table(args) if args.long_seconds else ""
    print(long_md)
    if args.write:
        command = " ".join(["python benchmarks/bench_codec.py", *sys.argv[1:]])
        body = (
            f"{SECTION}\n\n"
            f"`{command}` ({time.strftime('%Y-%m-%d')}).\n\nMachine: {desc}.\n\n"
            "DS-Codec: VQ quantizer + non-mirrored decoder, random weights; `today` = weight norm recomputed per call "
            "(the code path before issue 14), `folded` = weight norm folded (current `DSCodec`, 10 s chunks), "
            "`onnx` = `dscodec export` graphs in onnxruntime. EnCodec: 24 kHz model at 1.5 kbps, random weights "
            "(`pretrained=False`). RTF = processing time / audio duration "
            f"({args.seconds:g} s of audio, best of {args.repeats}), wall clock and CPU (process) time; "
            "peak MB = peak resident memory of a fresh process for that one operation minus its memory after "
            "imports. The machine is shared, so wall times carry noise from other jobs; CPU time is less "
            "affected (but not immune: cache and memory-bandwidth contention).\n\n" + md + "\n"
            + (f"\nLong files ({', '.join(f'{x:g}' for x in args.long_seconds)} s, `{args.long_size}` size, "
               f"file to file as `dscodec encode` / `decode` run them) vs a {args.seconds:g} s clip:\n\n{long_md}\n"
               if long_md else "")
        )
        write_section(args.write, body)


if __name__ == "__main__":
    main()
