"""Learning curves: codec quality against CPU-minutes of training, recipes side by side.

Why: a recipe for the CPU default run is only as good as the quality it reaches in the
minutes the run can spend, and short probes (a few hundred steps) cannot tell recipes apart.
This script trains each recipe's stage 1 (mirror training of DS-Codec-VQ, exactly as
`dscodec train` does: dscodec.train.stages + dscodec.train.loop.Trainer) for a fixed budget
of **CPU-minutes** (the training process's CPU time, all threads; evaluation pauses are not
counted) and, every `--eval-every` CPU-minutes, scores a fixed held-out set of dev
utterances drawn round-robin over *all* dev speakers:

- mel distance: the training's multi-scale log-mel L1 (dscodec.losses), lower is better;
- PESQ-WB (ITU-T P.862.2, `pesq`) and STOI (`pystoi`) against the reference;
- harmonic contrast (benchmarks/harmonics.py): how far the reconstruction's spectrum stands out at
  the reference's harmonics (the references ~10 dB, noise ~0), tracked once per dev utterance
  before the budget starts.

DS-Codec is delay-free (same-length convolutions), so no alignment is needed.

Recipes are config overlays (YAML) merged onto the base config; `benchmarks/recipes/` holds
the previous default (`default-2026-11-25.yaml`). `new` means the base config as it is.
Each recipe runs in its own process with `--threads` threads; recipes run concurrently
(`--parallel`, default: as many as fit on the cores at `--threads` each), so on 2 cores two
1-thread recipes share the machine evenly and their CPU-minutes are comparable.

    snakemake --cores all prepare_data                       # the default corpus, once
    python benchmarks/bench_learning.py --minutes 20 \\
        --recipe old=benchmarks/recipes/default-2026-11-25.yaml --recipe new \\
        --write benchmarks/RESULTS.md --figure benchmarks/learning_curves.png
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_train import write_section  # this folder is on sys.path when run as a script
from harmonics import harmonic_contrast_db, per_sample_f0, pitch_tracker

SECTION = "## Learning curves"
REPO = Path(__file__).resolve().parent.parent


class BudgetSpent(Exception):
    """Raised from the step hook when the CPU budget is used up."""


# -- worker ---------------------------------------------------------------------------------
def pick_dev(manifest: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` dev utterances, round-robin over speakers (seeded order within each)."""
    import numpy as np

    from dscodec.data.manifest import read_manifest

    df = read_manifest(manifest)
    rng = np.random.default_rng(seed)
    pools = {spk: list(rng.permutation(group.index.to_numpy())) for spk, group in df.groupby("speaker", sort=True)}
    picked: list[int] = []
    while len(picked) < min(count, len(df)):
        for spk in sorted(pools):
            if pools[spk] and len(picked) < count:
                picked.append(int(pools[spk].pop(0)))
    return df.loc[sorted(picked)].to_dict("records")


def worker(recipe: str, overlay: str | None, data_dir: Path, minutes: float, eval_every: float,
           threads: int, dev_count: int, steps: int | None, out: Path, keep_audio: int = 0) -> None:
    import torch
    import torch.nn.functional as F

    from dscodec.audio import load_audio, save_audio
    from dscodec.config import load_config, read_yaml
    from dscodec.train.loop import Trainer
    from dscodec.train.stages import build_stage

    torch.set_num_threads(threads)
    over: dict[str, Any] = read_yaml(overlay) if overlay else {}
    over.setdefault("train", {})
    stage_over = dict(over["train"].get("stage1") or {})
    if steps:
        stage_over["steps"] = steps
    # no checkpoints or dev-loss validation inside the budget: the benchmark scores itself
    stage_over.update(checkpoint_every=10**9, val_every=10**9, val_utterances=0)
    over["train"] = {**over["train"], "stage1": stage_over, "threads": threads}
    over["device"] = "cpu"
    over["results_dir"] = str(data_dir)
    cfg = load_config(overrides=over)
    system = "ds_codec_vq"
    setup = build_stage(cfg, system, 1)
    trainer = Trainer(cfg, system, 1, setup, out / "model", train_manifest=data_dir / "data/librispeech/train.tsv",
                      console=lambda line: None)
    dev = pick_dev(data_dir / "data/librispeech/dev.tsv", dev_count, seed=0)
    refs = [load_audio(row["path"], 16000) for row in dev]
    tracker = pitch_tracker()
    ref_f0s = [per_sample_f0(ref[0].numpy(), tracker) for ref in refs]   # once, before the budget starts
    hop = trainer.hop

    @torch.no_grad()
    def score() -> dict[str, float]:
        trainer.codec.eval()
        scores = []
        for index, (ref, ref_f0) in enumerate(zip(refs, ref_f0s)):
            length = ref.shape[-1]
            x = F.pad(ref[None], (0, (-length) % hop))
            recon = trainer.codec(x).recon[0, 0, :length].clamp(-1, 1)
            if index < keep_audio:  # to look at (spectrograms), not scored again
                save_audio(out / "audio" / f"dev{index}-step{trainer.step:05d}.wav", recon[None], 16000)
            scores.append(score_utterance(trainer.val_mel_loss, ref[0], recon, ref_f0))
        setup.train_mode()
        return summarise(scores)

    budget = minutes * 60.0
    paused = 0.0  # CPU seconds spent scoring, not counted as training
    t0 = time.process_time()
    w0 = time.perf_counter()
    next_mark = 0.0
    points = out / "points.jsonl"
    points.unlink(missing_ok=True)

    def record() -> None:
        nonlocal paused, next_mark
        cpu = time.process_time() - t0 - paused
        s0 = time.process_time()
        row = {"recipe": recipe, "step": trainer.step, "cpu_min": cpu / 60, "wall_min": (time.perf_counter() - w0) / 60,
               **score()}
        paused += time.process_time() - s0
        with points.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"[{recipe}] step {row['step']} cpu {row['cpu_min']:.1f} min: mel {row['mel']:.3f} "
              f"PESQ-WB {row['pesq_wb']:.3f} STOI {row['stoi']:.3f} harmonic contrast {row['harmonic_contrast_db']:.2f} dB "
              f"PESQ-WB of its magnitude + the reference's phase {row['pesq_wb_magnitude']:.3f}",
              flush=True)
        next_mark += eval_every * 60.0

    def on_step(step: int) -> None:
        used = time.process_time() - t0 - paused
        if used >= next_mark:
            record()
        if used >= budget:
            raise BudgetSpent

    record()
    try:
        trainer.run(on_step=on_step)
    except BudgetSpent:
        pass
    else:  # the recipe's schedule ended inside the budget
        record()


def score_utterance(mel_loss: Any, ref: Any, recon: Any, ref_f0: Any) -> dict[str, float | None]:
    """One dev utterance's scores (16 kHz 1-D tensors of one length, float32 or float64 as given to PESQ
    and STOI; the mel distance in float32; `ref_f0` per sample, 0 = unvoiced):
    mel distance, PESQ-WB (None when PESQ refuses the pair, e.g. silent output: missing, not 0), STOI,
    harmonic contrast, and PESQ-WB of the reconstruction's magnitude given the reference's phase
    (spectra.with_reference_phase: the magnitude's share of the score, the excitation taken away).
    The learning curves' protocol, shared with diag_harmonic_source.py and diag_pesq_ceiling.py."""
    import numpy as np
    from pesq import pesq
    from pystoi import stoi

    from spectra import with_reference_phase

    def pesq_wb(degraded: np.ndarray) -> float | None:
        try:
            return float(pesq(16000, r, degraded, "wb"))
        except Exception:  # noqa: BLE001 - see the docstring
            return None

    r, d = ref.numpy().astype(np.float64), recon.numpy().astype(np.float64)
    return {"mel": float(mel_loss(recon.float()[None, None], ref.float()[None, None])), "pesq_wb": pesq_wb(d),
            "stoi": float(stoi(r, d, 16000, extended=False)), "harmonic_contrast_db": harmonic_contrast_db(d, ref_f0),
            "pesq_wb_magnitude": pesq_wb(with_reference_phase(r, d))}


def summarise(scores: list[dict[str, float | None]]) -> dict[str, float]:
    """Means over the scored utterances; PESQ over those it scored (`pesq_n` of `n`), NaN if none."""
    import numpy as np

    def mean_scored(key: str) -> float:
        values = [s[key] for s in scores if s.get(key) is not None]
        return float(np.mean(values)) if values else float("nan")

    return {"mel": float(np.mean([s["mel"] for s in scores])),
            "pesq_wb": mean_scored("pesq_wb"), "pesq_n": sum(s["pesq_wb"] is not None for s in scores),
            "stoi": float(np.mean([s["stoi"] for s in scores])), "n": len(scores),
            "harmonic_contrast_db": float(np.nanmean([s["harmonic_contrast_db"] for s in scores])),
            "pesq_wb_magnitude": mean_scored("pesq_wb_magnitude")}


# -- driver ---------------------------------------------------------------------------------
def load_points(folder: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*/points.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("mel", "mel distance (lower is better)"), ("pesq_wb", "PESQ-WB"), ("stoi", "STOI")]
    if any("harmonic_contrast_db" in r for r in rows):   # points written since it is measured (2026-12-03)
        panels.append(("harmonic_contrast_db", "harmonic contrast, dB"))
    if any("pesq_wb_magnitude" in r for r in rows):      # since 2026-12-03 (evening)
        panels.append(("pesq_wb_magnitude", "PESQ-WB, its magnitude\n+ the reference's phase"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), constrained_layout=True)
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        pts = [r for r in rows if r["recipe"] == recipe]
        x = [p["cpu_min"] for p in pts]
        for ax, (key, _) in zip(axes, panels):
            ax.plot(x, [p.get(key, float("nan")) for p in pts], marker="o", ms=3, label=recipe)
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training CPU-minutes")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.savefig(path, dpi=150)
    fig.savefig(path.with_suffix(".pdf"))


def spectrograms(out: Path, data_dir: Path, recipe: str, dev_count: int, path: Path, panels: int = 4) -> None:
    """Log spectrograms of dev utterance 0: the reference, then the recipe's reconstructions at up to
    `panels` scoring points spread over the run (written there with --keep-audio)."""
    import numpy as np

    from dscodec.audio import load_audio

    files = sorted((out / recipe / "audio").glob("dev0-step*.wav"))
    if not files:
        raise SystemExit(f"{out / recipe / 'audio'}: no dev0-step*.wav (train with --keep-audio 1 or more)")
    picks = [files[int(round(i))] for i in np.linspace(0, len(files) - 1, min(panels, len(files)))]
    ref_row = pick_dev(data_dir / "data/librispeech/dev.tsv", dev_count, seed=0)[0]
    steps = {int(f.stem.split("step")[1]): f for f in picks}
    cpu_at = {r["step"]: r["cpu_min"] for r in load_points(out) if r["recipe"] == recipe}
    clips = [("reference", load_audio(ref_row["path"], 16000)[0])]
    clips += [(f"step {step}" + (f" ({cpu_at[step]:.0f} CPU-min)" if step in cpu_at else ""), load_audio(f, 16000)[0])
              for step, f in steps.items()]
    draw_spectrograms(clips, path)


def draw_spectrograms(clips: list[tuple[str, Any]], path: Path, *, n_fft: int = 1024, max_khz: float = 4.0,
                      top_db: float | None = None, panel_height: float = 1.9, dpi: int = 110) -> None:
    """One log-spectrogram panel per (title, 16 kHz waveform tensor), 10 ms hop. `top_db` None: one
    absolute scale (-100 to 0 dB) for all panels, so levels compare; a number: each panel over its own
    top `top_db`, so fine structure (harmonics) shows whatever the level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    fig, axes = plt.subplots(len(clips), 1, figsize=(8, panel_height * len(clips)), sharex=True,
                             constrained_layout=True)
    for ax, (title, wav) in zip(axes, clips):
        window = torch.hann_window(n_fft, dtype=wav.dtype)
        spec = torch.stft(wav, n_fft, 160, window=window, return_complex=True).abs().clamp_min(1e-5).log10() * 20
        top, span = (float(spec.max()), top_db) if top_db is not None else (0.0, 100.0)
        ax.imshow(spec.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=top - span, vmax=top,
                  extent=(0, wav.numel() / 16000, 0, 8))
        ax.set_ylim(0, max_khz)
        ax.set_ylabel("kHz")
        ax.set_title(title, fontsize=9)
    axes[-1].set_xlabel("seconds")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def crossing_minutes(rows: list[dict[str, Any]], key: str, target: float, from_min: float,
                     form: str = "log") -> tuple[float, float, float]:
    """Fit key = a + b ln(CPU-minutes) (form "log") or a + b CPU-minutes ("linear") over the points at
    or after `from_min`; return (a, b, CPU-minutes at which the fit reaches `target`, inf if it never
    does). The two bracket a curve that flattens (log) or keeps its last slope (linear); harmonics
    appearing would cross earlier than both."""
    import numpy as np

    pts = [(r["cpu_min"], r[key]) for r in rows if r["cpu_min"] >= from_min and np.isfinite(r[key])]
    x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    if form == "log":
        b, a = np.polyfit(np.log(x), y, 1)
        return float(a), float(b), float(np.exp((target - a) / b)) if b > 0 else float("inf")
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b), float((target - a) / b) if b > 0 else float("inf")


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| recipe | step | CPU-min | wall-min | mel distance | PESQ-WB | STOI | harmonic contrast (dB) "
             "| PESQ-WB, magnitude + reference phase |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        # points written before the contrast (2026-12-03) or the re-phased PESQ (evening) were measured
        # have none: shown as not measured
        contrast = f"{r['harmonic_contrast_db']:.2f}" if "harmonic_contrast_db" in r else "-"
        magnitude = f"{r['pesq_wb_magnitude']:.3f}" if "pesq_wb_magnitude" in r else "-"
        lines.append(f"| {r['recipe']} | {r['step']} | {r['cpu_min']:.1f} | {r['wall_min']:.1f} | {r['mel']:.3f} | "
                     f"{r['pesq_wb']:.3f} | {r['stoi']:.3f} | {contrast} | {magnitude} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", action="append", default=None,
                        help="NAME=overlay.yaml, or NAME alone for the base config as it is (repeatable)")
    parser.add_argument("--data", type=Path, default=REPO / "results", help="results dir holding data/librispeech/*.tsv")
    parser.add_argument("--minutes", type=float, default=20.0, help="training CPU-minutes per recipe")
    parser.add_argument("--eval-every", type=float, default=2.0, help="CPU-minutes between scorings")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=None, help="recipes at once (default: cores // threads)")
    parser.add_argument("--dev", type=int, default=8, help="held-out dev utterances (round-robin over speakers)")
    parser.add_argument("--steps", type=int, default=None,
                        help="override every recipe's stage-1 step count (the LR decay horizon)")
    parser.add_argument("--out", type=Path, default=REPO / "results-bench" / "learning")
    parser.add_argument("--write", type=Path, default=None, help="update this RESULTS.md section")
    parser.add_argument("--figure", type=Path, default=None, help="write the curves here (PNG + PDF)")
    parser.add_argument("--report-only", action="store_true", help="re-draw from --out without training")
    parser.add_argument("--spectrograms", type=Path, default=None,
                        help="with one recipe: spectrograms of dev utterance 0 over the run (needs --keep-audio)")
    parser.add_argument("--target", action="append", default=[], metavar="KEY=VALUE",
                        help="fit KEY against CPU-min (straight line and logarithm) from --fit-from on; print where each reaches VALUE")
    parser.add_argument("--fit-from", type=float, default=10.0, help="first CPU-minute the fit uses")
    parser.add_argument("--keep-audio", type=int, default=0,
                        help="write the first K dev reconstructions at every scoring point (OUT/NAME/audio/)")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "OVERLAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        name, overlay = args.one
        worker(name, overlay or None, args.data, args.minutes, args.eval_every, args.threads, args.dev, args.steps,
               args.out / name, args.keep_audio)
        return
    recipes = [r.split("=", 1) if "=" in r else [r, ""] for r in (args.recipe or ["new"])]
    for name, overlay in recipes:
        if overlay and not Path(overlay).is_file():
            parser.error(f"recipe {name}: overlay {overlay} not found")
    for split in ("train", "dev"):
        if not (args.data / "data/librispeech" / f"{split}.tsv").is_file():
            parser.error(f"{args.data}/data/librispeech/{split}.tsv missing: run "
                         f"`snakemake --cores all prepare_data` first (or pass --data)")
    started = time.strftime("%Y-%m-%d %H:%M")
    if not args.report_only:
        parallel = args.parallel or max(1, (os.cpu_count() or 1) // args.threads)
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        pending, running = list(recipes), []
        while pending or running:
            while pending and len(running) < parallel:
                name, overlay = pending.pop(0)
                (args.out / name).mkdir(parents=True, exist_ok=True)
                log = (args.out / name / "log.txt").open("w")
                cmd = [sys.executable, __file__, "--one", name, overlay, "--data", str(args.data), "--minutes",
                       str(args.minutes), "--eval-every", str(args.eval_every), "--threads", str(args.threads),
                       "--dev", str(args.dev), "--out", str(args.out), "--keep-audio", str(args.keep_audio)]
                cmd += ["--steps", str(args.steps)] if args.steps else []
                running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)))
            time.sleep(5)
            for name, proc in list(running):
                if proc.poll() is not None:
                    running.remove((name, proc))
                    status = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, see log.txt)"
                    print(f"{name}: {status}", flush=True)
    rows = load_points(args.out)
    rows = [r for name, _ in recipes for r in rows if r["recipe"] == name]
    print(table(rows))
    if args.figure:
        plot(rows, args.figure)
    if args.spectrograms:
        spectrograms(args.out, args.data, recipes[0][0], args.dev, args.spectrograms)
    for spec in args.target:
        key, value = spec.split("=", 1)
        for name, _ in recipes:
            mine = [r for r in rows if r["recipe"] == name]
            for form, x in (("linear", "CPU-min"), ("log", "ln(CPU-min)")):
                a, b, minutes = crossing_minutes(mine, key, float(value), args.fit_from, form)
                print(f"{name}: {key} ~ {a:.3f} + {b:.4f} {x} from {args.fit_from:g} CPU-min on; "
                      f"reaches {value} at ~{minutes:.3g} CPU-minutes")
    if args.write:
        cmdline = " ".join(["python", "benchmarks/bench_learning.py", *sys.argv[1:]])
        body = (f"{SECTION}\n\n`{cmdline}` ({started}).\n\n"
                f"Stage 1 of DS-Codec-VQ on the default synthetic corpus, {args.threads} thread(s) per recipe, "
                f"recipes run concurrently; scored on {args.dev} dev utterances round-robin over all dev speakers. "
                "CPU-minutes = the training process's CPU time, scoring excluded.\n\n" + table(rows))
        write_section(args.write, body, SECTION)


if __name__ == "__main__":
    main()
