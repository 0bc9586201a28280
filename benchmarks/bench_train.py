"""Training throughput: steps/s, audio seconds per second and peak memory per stage and size.

For each model size (tiny, small, paper) and each kind of training step —

- stage1        mirror training (encoder + quantizer + mirrored decoder + discriminators)
- stage1-joint  the APCodec+ ablation: the non-mirrored model trained jointly
- stage1-warmup the reconstruction-only warm-up of stage 1 (`adversarial_start_step`):
                mel + VQ loss, no discriminators
- stage2        decoder training (frozen encoder/quantizer, Transformer inserted)

`--concurrent N` starts N identical workers at once and reports each one's rate and their
sum: on a 2-core machine, two 1-thread training jobs side by side against one 2-thread job
is what decides `train.threads` for the default run.

— one fresh subprocess builds the models exactly as `dscodec train` does
(dscodec.train.stages, dscodec.train.loop.Trainer) and times full GAN steps (discriminator
+ codec update, mel/adversarial/feature-matching/VQ losses, grad clipping) on a fixed batch
of 1 s crops, after one warm-up step. Data loading is excluded (it is not the bottleneck:
crops are partial FLAC reads). Peak memory: CPU = the process's peak resident memory
(ru_maxrss) minus its memory after imports; CUDA = torch.cuda.max_memory_allocated.
Audio s/s = steps/s x batch x 1 s.

    python benchmarks/bench_train.py                          # this machine's CPU (and a GPU if present)
    python benchmarks/bench_train.py --write benchmarks/RESULTS.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECTION = "## Training throughput"
KINDS = {"stage1": ("ds_codec_vq", 1), "stage1-warmup": ("ds_codec_vq", 1), "stage1-joint": ("apcodec_plus_pq", 1),
         "stage2": ("ds_codec_vq", 2)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(size: str, kind: str, device: str, batch: int, steps: int, threads: int) -> dict:
    import resource

    import numpy as np
    import soundfile as sf
    import torch

    from dscodec.config import load_config
    from dscodec.data.manifest import write_manifest
    from dscodec.train.checkpoint import save_checkpoint
    from dscodec.train.distributed import DistInfo, select_device
    from dscodec.train.loop import Trainer
    from dscodec.train.stages import build_stage

    torch.set_num_threads(threads)
    base_mb = _rss_mb()
    dev = select_device(device)
    system, stage = KINDS[kind]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        x = (0.1 * np.random.default_rng(0).standard_normal(20000)).astype(np.float32)
        sf.write(tmp_p / "a.flac", x, 16000)
        import pandas as pd

        manifest = write_manifest(pd.DataFrame([{"id": "a", "path": str(tmp_p / "a.flac"), "sample_rate": 16000,
                                                 "frames": len(x), "speaker": "s", "chapter": "c", "text": ""}]),
                                  tmp_p / "m.tsv")
        stage_cfg = {"steps": 1000, "batch_size": batch, "val_utterances": 0,
                     "adversarial_start_step": 10**9 if kind == "stage1-warmup" else 0}
        cfg = load_config(overrides={"model": {"size": size}, "results_dir": str(tmp_p), "device": device,
                                     "train": {"stage1": stage_cfg, "stage2": stage_cfg}})
        stage1_ckpt = None
        if stage == 2:
            s1 = build_stage(cfg, system, 1)
            t1 = Trainer(cfg, system, 1, s1, tmp_p, train_manifest=manifest, console=lambda line: None)
            stage1_ckpt = t1.save(tmp_p / "s1.pt")
            del s1, t1
        setup = build_stage(cfg, system, stage, stage1_ckpt)
        info = DistInfo(0, 1, 0, dev)
        trainer = Trainer(cfg, system, stage, setup, tmp_p / "out", train_manifest=manifest, info=info,
                          console=lambda line: None)
        setup.train_mode()
        wav = 0.1 * torch.randn(batch, 1, trainer.segment, device=dev)
        trainer.train_step(wav)  # warm-up (allocator, autotuning)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(wav)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_mb)
        params = trainer.codec.num_parameters()
        return {"size": size, "kind": kind, "device": dev.type, "threads": threads, "batch": batch, "steps": steps,
                "steps_per_s": steps / seconds, "audio_s_per_s": steps * batch * trainer.segment / 16000 / seconds,
                "peak_mb": peak, "bf16": trainer.bf16, "gen_params_m": params["total"] / 1e6,
                "trainable_m": sum(p.numel() for p in trainer.gen_params) / 1e6}


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
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{cpu}, {os.cpu_count()} logical CPUs; GPU: {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at start")


def table(rows: list[dict]) -> str:
    head = ("| size | step | device | threads x jobs | batch | steps/s (all jobs) | audio s/s | peak MB | "
            "generator M params (trainable) |\n|---|---|---|---|---|---|---|---|---|\n")
    lines = [
        f"| {r['size']} | {r['kind']} | {r['device']}{' bf16' if r['bf16'] else ''} | {r['threads']} x {r.get('concurrent', 1)} | "
        f"{r['batch']} | "
        f"{r['steps_per_s']:.3g} | {r['audio_s_per_s']:.3g} | {r['peak_mb']:.0f} | "
        f"{r['gen_params_m']:.2f} ({r['trainable_m']:.2f}) |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def write_section(path: Path, body: str, section: str = SECTION) -> None:
    """Replace `section` (a `## ` heading and what follows up to the next one) of a RESULTS.md
    with `body`, or append it; the other benchmarks' sections are left as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(section)
    if start >= 0:
        nxt = text.find("\n## ", start + len(section))
        text = text[:start].rstrip() + "\n\n" + body + (text[nxt:] if nxt >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + body
    path.write_text(text.rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small", "paper"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 10 tiny/small, 2 paper on CPU, 20 on GPU)")
    parser.add_argument("--batch", type=int, default=None, help="default 4 on CPU as configs/default.yaml (2 for paper), 10 on GPU (paper stage 1)")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--concurrent", type=int, default=1, help="identical workers run at once (rates summed)")
    parser.add_argument("--write", type=Path, default=None, help="update this RESULTS.md section")
    parser.add_argument("--one", nargs=6, metavar=("SIZE", "KIND", "DEVICE", "BATCH", "STEPS", "THREADS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, kind, device, batch, steps, threads = args.one
        print("RESULT " + json.dumps(worker(size, kind, device, int(batch), int(steps), int(threads))))
        return

    import torch

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    info = machine()
    rows = []
    for device in devices:
        for size in args.sizes:
            for kind in args.kinds:
                gpu = device == "cuda"
                batch = args.batch or (10 if gpu else (2 if size == "paper" else 4))
                steps = args.steps or (20 if gpu else (2 if size == "paper" else 10))
                cmd = [sys.executable, __file__, "--one", size, kind, device, str(batch), str(steps), str(args.threads)]
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                         for _ in range(args.concurrent)]
                results = []
                for proc in procs:
                    out, err = proc.communicate()
                    found = [line for line in out.splitlines() if line.startswith("RESULT ")]
                    if proc.returncode or not found:
                        print(f"{size} {kind} {device}: failed\n{err[-2000:]}", file=sys.stderr)
                        continue
                    results.append(json.loads(found[-1][7:]))
                if len(results) != args.concurrent:
                    continue
                row = dict(results[0], concurrent=args.concurrent)
                if args.concurrent > 1:  # aggregate throughput of the side-by-side jobs
                    row["steps_per_s"] = sum(r["steps_per_s"] for r in results)
                    row["audio_s_per_s"] = sum(r["audio_s_per_s"] for r in results)
                    row["peak_mb"] = max(r["peak_mb"] for r in results)
                rows.append(row)
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{info}\n")
    print(table(rows))
    if args.write:
        cmdline = " ".join(["python", "benchmarks/bench_train.py", *sys.argv[1:]])
        body = (f"{SECTION}\n\n`{cmdline}` ({time.strftime('%Y-%m-%d')}).\n\nMachine: {info}.\n\n"
                "Full GAN steps (discriminator + codec update) on 1 s crops, one warm-up step excluded; "
                "data loading excluded. Peak MB: CPU = peak resident memory minus memory after imports; "
                "CUDA = peak allocated.\n\n" + table(rows))
        write_section(args.write, body)


if __name__ == "__main__":
    main()
