"""Diagnostic: does an F0-driven harmonic source let the `small` decoder learn harmonics (issue 10)?

Why: after every CPU schedule measured so far (up to 60 CPU-minutes of one stage-1 job, every
decoder shape tried) the DS-Codec output is the speech envelope over a noise-like excitation, with
no harmonics that follow the pitch (benchmarks/RESULTS.md, "Learning curves"). Neural source-filter
vocoders (NSF, Wang et al. 2019; NSF-HiFiGAN) give the waveform generator a sine excitation at the
F0 and its harmonics, so it only has to shape it; DDSP (Engel et al. 2020) synthesises the harmonics
directly. This asks whether that inductive bias is what the CPU budget lacks, before any of it enters
the codec. Every variant is stage 1 of DS-Codec-VQ at `small`, reconstruction-only (mel + VQ; the
default's warm-up), lr 5e-4 -> 5e-5 over a 3,000-step schedule, batch 4 x 1 s, one thread:

* `control`: the model as it is;
* `source`: plus (i) an F0 head on the decoder's LSTM output (log-F0 L1 on voiced frames + voiced/
  unvoiced BCE against a pitch tracker, weighted by `--f0-weight`), trained through the quantiser, so
  the tokens must carry the pitch, and (ii) an NSF harmonic source (8 harmonics of the F0 phase plus
  noise, merged to one channel) added after each up-sampling of the decoder through one strided conv
  per rate (NSF-HiFiGAN's layout);
* `aux`: the F0 head as an auxiliary loss only, the paper's decoder unchanged (the head is not used to
  decode): does pitch in the tokens alone help the paper's decoder?
* `ddsp`: the same F0 head, and a harmonic-plus-noise head (:class:`HarmonicPlusNoise`) on the LSTM
  output in place of the up-sampling blocks;
* `codec2`: no training, Codec2 at 1.2 kbps on the same utterances, aligned as the evaluation does:
  the target line.

Training drives the source with the tracked F0 (teacher forcing). Each model is scored twice: NAME
decodes from the tokens alone (the source follows the F0 head's prediction, as a codec would),
NAME-oracle with the tracked F0 (the upper bound). The tracker is the evaluation's CREPE `tiny`
(dscodec.evaluate.metrics.pitch.VoicingF1: 10 ms hop, voiced = periodicity >= 0.21 after the -60 dB
silence gate), run once over the training and dev utterances (cached in OUT/f0_tracks.npz; its CPU
time is printed and not counted as training).

Scored like bench_learning.py (mel distance, PESQ-WB, STOI on the same 8 dev utterances, CPU-minutes =
training CPU time), plus harmonics.harmonic_contrast_db (how far the reconstruction's spectrum at the
reference's harmonics stands above the spectrum between them; the references score ~10 dB, noise 0)
and the F0 head's voicing accuracy and median pitch error in cents on voiced dev frames. Points and dev
audio are written in bench_learning.py's layout, so its `--report-only --figure/--spectrograms` draw
them:

    python benchmarks/diag_harmonic_source.py control 15 --data results-bench --out results-bench/source &
    python benchmarks/diag_harmonic_source.py source 15 --data results-bench --out results-bench/source
    python benchmarks/diag_harmonic_source.py codec2 0 --data results-bench --out results-bench/source
    python benchmarks/bench_learning.py --report-only --data results-bench --out results-bench/source \\
        --recipe control --recipe source --recipe source-oracle --figure benchmarks/learning_curves_source.png
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench_learning import pick_dev, score_utterance, summarise  # this folder is on sys.path as a script
from harmonics import harmonic_contrast_db, per_sample_f0, pitch_tracker

SR, HOP = 16000, 200
SCHEDULE_STEPS, WARMUP_STEPS, LR, LR_MIN = 3000, 20, 5e-4, 5e-5   # long-mel-only.yaml's schedule
HARMONICS = 8
F0_REF_HZ = 100.0                                                   # the F0 head predicts log(F0 / 100 Hz)


class HarmonicSource(nn.Module):
    """NSF source: K harmonics of the F0 phase (+ noise) merged to one channel, then one strided conv
    per decoder rate (NSF-HiFiGAN's `noise_convs`), added after each up-sampling."""

    def __init__(self, widths: list[int], strides: tuple[int, ...]) -> None:
        super().__init__()
        self.merge = nn.Linear(HARMONICS, 1)
        up = list(reversed(strides))
        self.convs = nn.ModuleList()
        for i, width in enumerate(widths[1:]):
            d = math.prod(up[i + 1:])  # samples per step at this block's output rate
            self.convs.append(nn.Conv1d(1, width, 2 * d, stride=d, padding=d // 2) if d > 1 else nn.Conv1d(1, width, 1))

    def excitation(self, f0: torch.Tensor) -> torch.Tensor:
        """Per-sample F0 [B, T] (Hz, 0 = unvoiced) -> source [B, 1, T]. The phase accumulates in float64:
        thousands of cycles per utterance."""
        phase = 2 * math.pi * torch.remainder(torch.cumsum(f0.double() / SR, -1), 1.0).float()
        k = torch.arange(1, HARMONICS + 1, dtype=torch.float32)
        sines = torch.sin(phase[..., None] * k) * (f0[..., None] * k < SR / 2).float()
        voiced = (f0 > 0).float()[..., None]
        noise = torch.randn_like(sines)
        mixed = voiced * (0.1 * sines + 0.003 * noise) + (1 - voiced) * (0.1 / 3) * noise   # NSF's amplitudes
        return torch.tanh(self.merge(mixed)).transpose(1, 2)


class HarmonicPlusNoise(nn.Module):
    """DDSP decoder head (Engel et al., ICLR 2020): from the frame-rate features, K harmonic amplitudes
    (an overall level times a distribution over harmonics, those above Nyquist masked) drive sines at
    k x F0, plus noise shaped by `bands` per-frame magnitudes (random-phase inverse STFT, n_fft 4 x hop).
    No 16 kHz convolution: the decoder's up-sampling blocks are not used."""

    def __init__(self, in_ch: int, hop: int, harmonics: int = 64, bands: int = 64) -> None:
        super().__init__()
        self.hop, self.harmonics, self.bands = hop, harmonics, bands
        self.proj = nn.Conv1d(in_ch, 1 + harmonics + bands, 3, padding=1)
        self.n_fft = 4 * hop

    def forward(self, h: torch.Tensor, f0_frames: torch.Tensor, length: int) -> torch.Tensor:
        """h [B, C, F], F0 per frame [B, F] (Hz, 0 = unvoiced) -> waveform [B, 1, length]."""
        p = self.proj(h)
        k = torch.arange(1, self.harmonics + 1, dtype=h.dtype)[None, :, None]
        level = F.softplus(p[:, :1] - 3.0)
        dist = torch.softmax(p[:, 1:1 + self.harmonics], dim=1) * (f0_frames[:, None] * k < SR / 2)
        amps = level * dist * (f0_frames[:, None] > 0)                                    # [B, K, F]
        f0 = F.interpolate(f0_frames[:, None], size=length, mode="nearest")[:, 0]
        phase = 2 * math.pi * torch.remainder(torch.cumsum(f0.double() / SR, -1), 1.0).float()
        amps = F.interpolate(amps, size=length, mode="linear", align_corners=False)       # [B, K, T]
        harmonic = (amps * torch.sin(phase[:, None] * k)).sum(1)
        mags = F.softplus(p[:, 1 + self.harmonics:] - 5.0)                                 # [B, bands, F]
        mags = F.interpolate(mags.transpose(1, 2), size=self.n_fft // 2 + 1, mode="linear",
                             align_corners=True).transpose(1, 2)                           # [B, bins, F]
        phases = torch.rand_like(mags) * 2 * math.pi
        noise = torch.istft(torch.polar(mags, phases), self.n_fft, self.hop, window=torch.hann_window(self.n_fft),
                            length=length)
        return (harmonic + noise)[:, None]


def frame_targets(f0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample F0 [B, T] -> (F0, voiced) at each token frame's centre [B, T / hop]."""
    frames = f0[:, HOP // 2::HOP]
    return frames, (frames > 0).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["control", "aux", "source", "ddsp", "codec2", "figure"],
                        help="codec2: no training; Codec2 at 1.2 kbps on the same dev utterances (the target). "
                             "figure: low-band spectrograms of dev utterance 0 after the last step of each --show")
    parser.add_argument("minutes", type=float, help="training CPU-minutes")
    parser.add_argument("--eval-every", type=float, default=3.0, help="CPU-minutes between scorings")
    parser.add_argument("--data", type=Path, default=Path("results-bench"))
    parser.add_argument("--out", type=Path, default=Path("results-bench/source"))
    parser.add_argument("--dev", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="initialisation and crops")
    parser.add_argument("--f0-weight", type=float, default=1.0, help="weight of the F0 head's loss (mel: 15)")
    parser.add_argument("--name", default=None, help="points folder name (default: the variant)")
    parser.add_argument("--show", action="append", default=[], help="figure: a points folder name (repeatable)")
    parser.add_argument("--figure", type=Path, default=None, help="figure: where to write it (PNG)")
    parser.add_argument("--keep-audio", type=int, default=2, help="dev reconstructions written at each point")
    args = parser.parse_args()

    from dscodec.audio import LEVEL_DBFS_RANGE, load_audio, normalize_level, save_audio
    from dscodec.data.manifest import read_manifest
    from dscodec.losses import MelReconstructionLoss, VQLossWeights
    from dscodec.models.codec import CodecModel
    from dscodec.models.sizes import PRESETS

    torch.set_num_threads(1)
    manifest = args.data / "data/librispeech"
    train_rows = read_manifest(manifest / "train.tsv").to_dict("records")
    dev_rows = pick_dev(manifest / "dev.tsv", args.dev, seed=0)
    tracks = load_or_track(args.out / "f0_tracks.npz", train_rows, dev_rows, pitch_tracker(),
                           load_audio)
    wavs, f0s, dev_wavs, dev_f0s = (tracks[k] for k in ("wavs", "f0s", "dev_wavs", "dev_f0s"))
    print(f"references' own harmonic contrast: "
          f"{np.nanmean([harmonic_contrast_db(x, f) for x, f in zip(dev_wavs, dev_f0s)]):.2f} dB", flush=True)

    if args.variant == "figure":
        low_band_figure(args.out, args.show, dev_wavs[0], args.figure)
        return
    if args.variant == "codec2":
        score_codec2(args.out / "codec2-1200", dev_wavs, dev_f0s)
        return

    # seeded here, after the tracks: building CREPE for a first tracking pass draws from torch's RNG,
    # so a run that tracks and one that reads the cache would start from different weights
    torch.manual_seed(args.seed)
    size = PRESETS["small"]
    codec = CodecModel(size, "vq", "mirror", dead_code_reset=True)
    dec = codec.decoder
    widths = size.decoder_channels_list
    with_source = args.variant in ("source", "ddsp")
    source = HarmonicSource(widths, size.strides) if args.variant == "source" else None
    ddsp = HarmonicPlusNoise(widths[0], HOP) if args.variant == "ddsp" else None
    f0_head = nn.Conv1d(widths[0], 2, 3, padding=1) if args.variant != "control" else None
    if ddsp is not None:     # the up-sampling blocks are not used: not trained either
        params = [p for name, p in codec.named_parameters() if not name.startswith("decoder.post.")]
    else:
        params = list(codec.parameters())
    for extra in (source, ddsp, f0_head):
        params += list(extra.parameters()) if extra is not None else []
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.8, 0.9), weight_decay=0.01)
    floor = LR_MIN / LR
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / WARMUP_STEPS) * max(floor, 1 - (1 - floor) * s / SCHEDULE_STEPS))
    mel = MelReconstructionLoss(SR)
    vq_loss = VQLossWeights.from_loss_weights({"commitment": 0.25, "codebook": 1.0})
    blocks = len(size.strides)

    def forward(wav: torch.Tensor, f0: torch.Tensor, tracked: bool) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """-> (reconstruction, quantiser output, F0-head output [B, 2, frames] or None)."""
        q = codec.quantizer(codec.encoder(wav))
        h = dec.lstm(dec.pre(q.z_q))
        head = f0_head(h) if f0_head is not None else None
        if not with_source:          # control, aux: the paper's decoder as it is
            return dec.post(h), q, head
        if tracked:
            f0_frames = frame_targets(f0)[0]
        else:
            f0_frames = (F0_REF_HZ * torch.exp(head[:, 0].detach().clamp(-3, 3))) * (head[:, 1].detach() > 0).float()
        if ddsp is not None:
            return ddsp(h, f0_frames, wav.shape[-1]), q, head
        excitation = source.excitation(F.interpolate(f0_frames[:, None], size=wav.shape[-1], mode="nearest")[:, 0])
        x = h
        for block, conv in zip(list(dec.post)[:blocks], source.convs):
            layers = block.block          # Snake, up-sampling, residual units (dscodec.models.decoder.DecoderBlock)
            x = layers[1](layers[0](x))
            x = x + conv(excitation)[..., : x.shape[-1]]
            for unit in layers[2:]:
                x = unit(x)
        for layer in list(dec.post)[blocks:]:
            x = layer(x)
        return x, q, head

    def f0_loss(head: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        target, voiced = frame_targets(f0)
        log_err = (head[:, 0] - torch.log(target.clamp(min=1.0) / F0_REF_HZ)).abs()
        return (F.binary_cross_entropy_with_logits(head[:, 1], voiced)
                + (log_err * voiced).sum() / voiced.sum().clamp(min=1.0))

    rng = np.random.default_rng(args.seed)

    def batch(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        crops, pitch = [], []
        for _ in range(n):
            i = int(rng.integers(len(wavs)))
            start = int(rng.integers(0, len(wavs[i]) - SR))
            crops.append(normalize_level(torch.from_numpy(wavs[i][start:start + SR].copy())[None],
                                         float(rng.uniform(*LEVEL_DBFS_RANGE))))
            pitch.append(torch.from_numpy(f0s[i][start:start + SR].copy()))
        return torch.stack(crops), torch.stack(pitch)

    name = args.name or args.variant
    modes = [(name, False)] + ([(f"{name}-oracle", True)] if with_source else [])
    for name, _ in modes:
        (args.out / name).mkdir(parents=True, exist_ok=True)
        (args.out / name / "points.jsonl").unlink(missing_ok=True)

    @torch.no_grad()
    def score(step: int, cpu: float, wall: float) -> None:
        codec.eval()
        for name, tracked in modes:
            scores, cents, agree = [], [], []
            for index, (x, f0) in enumerate(zip(dev_wavs, dev_f0s)):
                length, pad = len(x), (-len(x)) % HOP
                wav = F.pad(torch.from_numpy(x)[None, None], (0, pad))
                f0_padded = F.pad(torch.from_numpy(f0)[None], (0, pad))
                y, _, head = forward(wav, f0_padded, tracked)
                y = y[0, 0, :length].clamp(-1, 1)
                if index < args.keep_audio:
                    save_audio(args.out / name / "audio" / f"dev{index}-step{step:05d}.wav", y[None], SR)
                scores.append(score_utterance(mel, torch.from_numpy(x), y, f0))
                if head is not None:
                    target, voiced = frame_targets(f0_padded)
                    agree.append(float(((head[0, 1] > 0).float() == voiced[0]).float().mean()))
                    both = (voiced[0] > 0) & (head[0, 1] > 0)
                    pred = F0_REF_HZ * torch.exp(head[0, 0].clamp(-3, 3))
                    cents += (1200 * torch.log2(pred[both] / target[0][both])).abs().tolist()
            row = {"recipe": name, "step": step, "cpu_min": cpu / 60, "wall_min": wall / 60, **summarise(scores)}
            if agree:
                row.update(vuv_accuracy=float(np.mean(agree)),
                           f0_median_cents=float(np.median(cents)) if cents else float("nan"))
            with (args.out / name / "points.jsonl").open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            extra = (f" V/UV acc {row['vuv_accuracy']:.3f} F0 err {row['f0_median_cents']:.0f} cents"
                     if agree else "")
            print(f"[{name}] step {step} cpu {row['cpu_min']:.1f} min: mel {row['mel']:.3f} "
                  f"PESQ-WB {row['pesq_wb']:.3f} STOI {row['stoi']:.3f} harmonic contrast "
                  f"{row['harmonic_contrast_db']:.2f} dB{extra}", flush=True)
        codec.train()

    t0, w0, paused, mark, step = time.process_time(), time.perf_counter(), 0.0, 0.0, 0
    while True:
        used = time.process_time() - t0 - paused
        if used >= mark or used >= args.minutes * 60:
            s0 = time.process_time()
            score(step, used, time.perf_counter() - w0)
            paused += time.process_time() - s0
            mark += args.eval_every * 60
            if used >= args.minutes * 60:
                break
        wav, f0 = batch()
        recon, q, head = forward(wav, f0, tracked=True)
        loss = 15.0 * mel(recon, wav, "mean") + vq_loss(q.commit_loss, q.codebook_loss)
        if head is not None:
            loss = loss + args.f0_weight * f0_loss(head, f0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        step += 1


def low_band_figure(out: Path, names: list[str], reference: np.ndarray, path: Path) -> None:
    """Reference and each run's last dev0 reconstruction, 0-1.5 kHz of the first 2 s, 128 ms Hann windows,
    each panel over its own top 60 dB: where harmonics show (or do not) at a glance."""
    import soundfile as sf

    from bench_learning import draw_spectrograms

    clips = [("reference", reference)]
    for name in names:
        last = sorted((out / name / "audio").glob("dev0-step*.wav"))[-1]
        clips.append((f"{name}, step {int(last.stem.split('step')[1])}", sf.read(last)[0]))
    draw_spectrograms([(title, torch.from_numpy(np.asarray(wav[: 2 * SR], dtype=np.float64))) for title, wav in clips],
                      path, n_fft=2048, max_khz=1.5, top_db=60.0, panel_height=1.6, dpi=90)


def score_codec2(out: Path, dev_wavs: list[np.ndarray], dev_f0s: list[np.ndarray]) -> None:
    """Codec2 at 1.2 kbps on the dev utterances, aligned as the evaluation aligns it: one points row."""
    from dscodec.evaluate.align import make_aligner
    from dscodec.evaluate.baselines.classical import Codec2Codec
    from dscodec.losses import MelReconstructionLoss

    codec = Codec2Codec("codec2_1200", {"kind": "codec2", "mode": 1200})
    codec.load()
    aligner, mel = make_aligner("baseline", codec), MelReconstructionLoss(SR)
    scores = []
    for x, f0 in zip(dev_wavs, dev_f0s):
        r, d, _, _ = aligner(x.astype(np.float64), codec.reconstruct(x).astype(np.float64))
        scores.append(score_utterance(mel, torch.from_numpy(r), torch.from_numpy(d), f0[: len(r)]))
    row = {"recipe": "codec2-1200", "step": 0, "cpu_min": 0.0, "wall_min": 0.0, **summarise(scores)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "points.jsonl").write_text(json.dumps(row) + "\n")
    print(f"[codec2-1200] mel {row['mel']:.3f} PESQ-WB {row['pesq_wb']:.3f} STOI {row['stoi']:.3f} "
          f"harmonic contrast {row['harmonic_contrast_db']:.2f} dB", flush=True)


def load_or_track(path: Path, train_rows: list[dict], dev_rows: list[dict], tracker: Any, load_audio: Any
                  ) -> dict[str, list[np.ndarray]]:
    """Audio and per-sample F0 (Hz, 0 = unvoiced; the 10 ms CREPE track interpolated) of every utterance."""
    ids = [r["id"] for r in train_rows] + [r["id"] for r in dev_rows]
    if path.is_file():
        cached = np.load(path, allow_pickle=True)
        if list(cached["ids"]) == ids:
            return {k: list(cached[k]) for k in ("wavs", "f0s", "dev_wavs", "dev_f0s")}

    t0 = time.process_time()
    out = {"wavs": [load_audio(r["path"], SR)[0].numpy() for r in train_rows],
           "dev_wavs": [load_audio(r["path"], SR)[0].numpy() for r in dev_rows]}
    out["f0s"] = [per_sample_f0(x, tracker) for x in out["wavs"]]
    out["dev_f0s"] = [per_sample_f0(x, tracker) for x in out["dev_wavs"]]
    minutes = sum(len(x) for x in out["wavs"] + out["dev_wavs"]) / SR / 60
    print(f"tracked {minutes:.1f} min of audio in {time.process_time() - t0:.0f} CPU-s (not training time)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, ids=np.array(ids), **{k: np.array(v, dtype=object) for k, v in out.items()})
    return out


if __name__ == "__main__":
    main()
