"""Diagnostic: is the single-codebook bottleneck what keeps the CPU default from learning harmonics?

Why: after the default's stage 1 the DS-Codec output is noise shaped by the speech envelope. If the
quantizer (1,024 codes at 80 tokens/s) were the wall, a model trained identically but with the
lookup bypassed (continuous 8-dim latent through the same in/out projections) would learn faster.
This trains stage 1 of DS-Codec-VQ reconstruction-only (mel + VQ, no discriminators; the default's
warm-up) for a CPU budget, with the quantizer as is (`vq`) or bypassed (`bypass`), scores mel
distance / PESQ-WB / STOI on the 8 dev utterances of bench_learning.py every 1.5 CPU-minutes, and
saves 3 reconstructions and their spectrograms (0-4 kHz) next to the references.

    python benchmarks/diag_quantizer_bypass.py vq 7 --data results-bench --out results-bench/bypass &
    python benchmarks/diag_quantizer_bypass.py bypass 7 --data results-bench --out results-bench/bypass
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench_learning import BudgetSpent, pick_dev  # this folder is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["vq", "bypass"])
    parser.add_argument("minutes", type=float, help="training CPU-minutes")
    parser.add_argument("--data", type=Path, default=Path("results-bench"))
    parser.add_argument("--out", type=Path, default=Path("results-bench/bypass"))
    args = parser.parse_args()

    import soundfile as sf
    from pesq import pesq
    from pystoi import stoi

    from dscodec.audio import load_audio
    from dscodec.config import load_config
    from dscodec.quantize.vq import QuantizerOutput
    from dscodec.train.loop import Trainer
    from dscodec.train.stages import build_stage

    torch.set_num_threads(1)
    out = args.out / args.mode
    out.mkdir(parents=True, exist_ok=True)
    stage = {"steps": 2000, "adversarial_start_step": 100000, "lr": 5e-4, "lr_min": 5e-5, "warmup_steps": 20,
             "checkpoint_every": 10**9, "val_every": 10**9, "val_utterances": 0}
    cfg = load_config(overrides={"train": {"threads": 1, "stage1": stage}, "device": "cpu",
                                 "results_dir": str(args.data)})
    setup = build_stage(cfg, "ds_codec_vq", 1)
    trainer = Trainer(cfg, "ds_codec_vq", 1, setup, out / "model",
                      train_manifest=args.data / "data/librispeech/train.tsv", console=lambda line: None)
    quantizer = trainer.codec.quantizer
    if args.mode == "bypass":
        def continuous(z: torch.Tensor) -> QuantizerOutput:
            codes = torch.zeros(z.shape[0], z.shape[2], dtype=torch.long)
            return QuantizerOutput(quantizer.out_proj(quantizer.in_proj(z)), codes, z.new_zeros(()),
                                   {"perplexity": torch.tensor(0.0)})
        quantizer.forward = continuous  # type: ignore[method-assign]
    refs = [load_audio(row["path"], 16000) for row in pick_dev(args.data / "data/librispeech/dev.tsv", 8, seed=0)]

    @torch.no_grad()
    def score(save: bool = False) -> np.ndarray:
        trainer.codec.eval()
        rows = []
        for i, ref in enumerate(refs):
            length = ref.shape[-1]
            recon = trainer.codec(F.pad(ref[None], (0, (-length) % trainer.hop))).recon[0, 0, :length].clamp(-1, 1)
            r, d = ref[0].numpy().astype(np.float64), recon.numpy().astype(np.float64)
            try:
                p = pesq(16000, r, d, "wb")
            except Exception:  # noqa: BLE001 - PESQ refuses e.g. silent output: missing, not 0
                p = float("nan")
            rows.append((float(trainer.val_mel_loss(recon[None, None], ref[None])), p, stoi(r, d, 16000)))
            if save and i < 3:
                sf.write(out / f"rec{i}.wav", d, 16000)
                sf.write(out / f"ref{i}.wav", r, 16000)
        setup.train_mode()
        return np.nanmean(np.array(rows), axis=0)

    t0, paused, mark = time.process_time(), 0.0, [0.0]

    def on_step(step: int) -> None:
        nonlocal paused
        used = time.process_time() - t0 - paused
        if used >= mark[0]:
            s0 = time.process_time()
            mel, p, s = score()
            paused += time.process_time() - s0
            print(f"[{args.mode}] step {step} cpu {used / 60:.1f} mel {mel:.3f} pesq {p:.3f} stoi {s:.3f}", flush=True)
            mark[0] += 90.0
        if used >= args.minutes * 60:
            raise BudgetSpent

    try:
        trainer.run(on_step=on_step)
    except BudgetSpent:
        pass
    mel, p, s = score(save=True)
    print(f"[{args.mode}] FINAL step {trainer.step} mel {mel:.3f} pesq {p:.3f} stoi {s:.3f}", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(15, 6))
    for i in range(3):
        for j, name in enumerate(["ref", "rec"]):
            wav, _ = sf.read(out / f"{name}{i}.wav")
            ax[j, i].specgram(wav, NFFT=1024, Fs=16000, noverlap=768, cmap="magma")
            ax[j, i].set_ylim(0, 4000)
            ax[j, i].set_title(f"{name}{i} ({args.mode})")
    fig.tight_layout()
    fig.savefig(out / "spec.png", dpi=70)


if __name__ == "__main__":
    main()
