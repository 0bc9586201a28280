"""Diagnostic: what kind of signal reaches Codec2's PESQ-WB at all (issue 10)? No training.

Why: every DS-Codec run at `small` ends at PESQ-WB 1.08-1.17 while its mel distance (0.29-0.42) is far
*below* Codec2's (0.69), and Codec2 scores 1.44 on the same dev utterances; even a DDSP head with the
tracked pitch and clear harmonics scored 1.17 (RESULTS "Is the excitation the wall?"). So a lower mel
distance does not buy PESQ here, and the learning curves cannot say what would. This scores idealised
reconstructions of the same 8 dev utterances, each keeping one part of the reference and replacing the
rest, with the learning curves' protocol (bench_learning.score_utterance: mel distance, PESQ-WB, STOI,
harmonic contrast). Each variant is a magnitude and a phase put together on one STFT (1024-point Hann,
hop 200 = the codec's 80 frames per second) and inverted (torch.istft):

* magnitudes: `magnitude` (the reference's exact STFT magnitude) or `mel80` (its 80-band mel spectrogram,
  0-8 kHz, mapped back to linear bins by least squares with torchaudio.InverseMelScale: what a decoder
  trained to match the mel at best knows);
* phases: `reference-phase` (the reference's own), `griffin-lim` (32 Griffin-Lim iterations on the
  magnitude, torchaudio), `harmonic-phase` (the phase of a harmonic excitation at the tracked F0:
  all harmonics to 8 kHz, phase-continuous, in voiced samples; white noise elsewhere: what a source-
  filter decoder with the right pitch would give), `random-phase` (uniform: a noise-excited decoder);
* `melN-reference-phase`, `melN-Kframes-reference-phase`: coarser magnitudes (N mel bands, averaged
  over K frames of 12.5 ms) with the reference's phase: a yardstick of how much spectral and temporal
  detail a magnitude holds, to place the trained runs' magnitudes on (`--model`);
* `magnitude-NdB-off-harmonic-phase`: the exact magnitude times a random gain smooth across frequency
  (30 quefrency bins) of N dB RMS per frame, with the harmonic phase: how PESQ falls with spectral error;
* `reference`: the utterance itself (PESQ's ceiling, ~4.6).

`--model NAME=DIR` also scores a trained run's kept dev reconstructions (bench_learning.py's
`--keep-audio` layout), and the variants again on the same utterances, for a like-for-like line:

    python benchmarks/diag_pesq_ceiling.py --data results-bench --out results-bench/ceiling

Pitch tracks come from diag_harmonic_source.py's cache (OUT of that script, `--tracks`), or are made.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench_learning import pick_dev, score_utterance, summarise  # this folder is on sys.path as a script
from harmonics import pitch_tracker
from spectra import HOP, N_FFT, istft, stft

SR = 16000
LIFTER = 30           # quefrency bins of the random spectral errors: smooth across frequency like formants
GRIFFIN_LIM_ITERS = 32
# --model: its output; its output through a fixed EQ that undoes its mean band bias; its magnitude with these phases
MODEL_VARIANTS = ("own", "band-bias-removed", "harmonic-phase", "reference-phase")
BAND_EDGES = (0, 250, 500, 1000, 2000, 4000, 8000)   # octave bands of band_bias_db (Hz)
COARSE_MAGNITUDES = ("mel40", "mel20", "mel10", "mel5", "mel80-3frames", "mel80-5frames")
ERRORS_DB = (2, 4, 6)  # spectral errors (RMS dB) put on the exact magnitude


def perturb_magnitude(mag: torch.Tensor, error_db: float, rng: np.random.Generator) -> torch.Tensor:
    """`mag` [bins, frames] times a random gain, smooth across frequency (`LIFTER` quefrency bins), of
    `error_db` RMS dB per frame: a spectrum that is off as a decoder's would be, to map error to PESQ."""
    noise = torch.from_numpy(rng.standard_normal((N_FFT, mag.shape[1])))
    keep = torch.zeros(N_FFT, dtype=noise.dtype)
    keep[:LIFTER] = 1
    keep[N_FFT - LIFTER + 1:] = 1
    smooth = torch.fft.rfft(torch.fft.irfft(torch.fft.rfft(noise, dim=0), n=N_FFT, dim=0) * keep[:, None], dim=0).real
    smooth = smooth / smooth.pow(2).mean(0, keepdim=True).sqrt()
    return mag * torch.pow(10.0, smooth * error_db / 20)


def harmonic_excitation(f0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sum of all harmonics below Nyquist of a phase-continuous F0 (per sample, Hz) where f0 > 0,
    unit-variance white noise elsewhere; each part scaled to unit mean power."""
    voiced = f0 > 0
    phase = 2 * np.pi * np.cumsum(f0) / SR
    count = np.floor(SR / 2 / np.where(voiced, f0, SR)).clip(min=1)   # harmonics below Nyquist, per sample
    out = np.zeros(len(f0))
    for k in range(1, int(count.max()) + 1):
        out += np.where(k <= count, np.sin(k * phase), 0.0)
    return np.where(voiced, out * np.sqrt(2 / count), rng.standard_normal(len(f0)))


def griffin_lim(magnitude: torch.Tensor, length: int) -> np.ndarray:
    import torchaudio

    gl = torchaudio.transforms.GriffinLim(n_fft=N_FFT, hop_length=HOP, power=1.0, n_iter=GRIFFIN_LIM_ITERS,
                                          window_fn=torch.hann_window, length=length)
    return gl(magnitude.float()).double().numpy()


def mel_magnitude(ref: torch.Tensor, n_mels: int = 80, frames: int = 1) -> torch.Tensor:
    """`n_mels`-band mel (0-8 kHz) of the reference's magnitude, averaged over `frames` neighbouring
    frames (centred), mapped back to linear bins by least squares: a magnitude with only that much
    spectral and temporal detail."""
    import torchaudio

    n_bins = N_FFT // 2 + 1
    to_mel = torchaudio.transforms.MelScale(n_mels=n_mels, sample_rate=SR, n_stft=n_bins)
    from_mel = torchaudio.transforms.InverseMelScale(n_stft=n_bins, n_mels=n_mels, sample_rate=SR)
    mel = to_mel(ref.abs().float())
    if frames > 1:
        mel = torch.nn.functional.avg_pool1d(mel[None], frames, stride=1, padding=frames // 2,
                                             count_include_pad=False)[0]
    return from_mel(mel).double().clamp_min(0)


def with_phase(mag: torch.Tensor, kind: str, x: np.ndarray, f0: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
    """`mag` [bins, frames] inverted with a phase: `griffin-lim` (32 iterations on `mag`), `reference-phase`
    (of `x`), `harmonic-phase` (of :func:`harmonic_excitation` at `f0`), anything else uniformly random."""
    if kind == "griffin-lim":
        return griffin_lim(mag, len(x))
    if kind == "reference-phase":
        phase = torch.angle(stft(x))
    elif kind == "harmonic-phase":
        phase = torch.angle(stft(harmonic_excitation(f0, rng)))
    else:
        phase = torch.from_numpy(2 * np.pi * rng.random(tuple(mag.shape)))
    return istft(mag * torch.exp(1j * phase), len(x))


def variants() -> dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]]:
    """name -> f(reference, per-sample F0, rng) -> reconstruction of the same length: a magnitude
    (exact, or a mel spectrogram's) with a phase (the reference's, Griffin-Lim's, a harmonic excitation's at
    the tracked pitch, random)."""
    def make(magnitude: str, phase: str, error_db: float = 0.0
             ) -> Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]:
        def run(x: np.ndarray, f0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            if magnitude == "magnitude":
                mag = stft(x).abs()
            else:   # melN or melN-Kframes
                n_mels, _, frames = magnitude[3:].partition("-")
                mag = mel_magnitude(stft(x), int(n_mels), int(frames.removesuffix("frames") or 1))
            if error_db:
                mag = perturb_magnitude(mag, error_db, rng)
            return with_phase(mag, phase, x, f0, rng)
        return run

    out: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
        "reference": lambda x, f0, rng: x}
    for magnitude in ("magnitude", "mel80"):
        for phase in ("reference-phase", "griffin-lim", "harmonic-phase", "random-phase"):
            if (magnitude, phase) != ("magnitude", "reference-phase"):
                out[f"{magnitude}-{phase}"] = make(magnitude, phase)
    for coarse in COARSE_MAGNITUDES:
        out[f"{coarse}-reference-phase"] = make(coarse, "reference-phase")
    for error_db in ERRORS_DB:
        out[f"magnitude-{error_db}dB-off-harmonic-phase"] = make("magnitude", "harmonic-phase", float(error_db))
    return out


def band_bias_db(x: np.ndarray, y: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """Mean level of `y` minus `x` (dB) in each BAND_EDGES octave band, over the frames whose energy is
    within `floor_db` of `x`'s loudest: which part of the spectrum a decoder makes too weak or too strong."""
    rx, ry = stft(x).abs().pow(2).numpy(), stft(y).abs().pow(2).numpy()
    energy = 10 * np.log10(rx.sum(0) + 1e-18)
    active = energy >= energy.max() + floor_db
    hz = np.arange(rx.shape[0]) * SR / N_FFT
    bias = []
    for lo, hi in zip(BAND_EDGES, BAND_EDGES[1:]):
        band = (hz >= lo) & ((hz < hi) | (hi == SR // 2))
        bias.append(np.mean(10 * np.log10(ry[band].sum(0) + 1e-12)[active] - 10 * np.log10(rx[band].sum(0) + 1e-12)[active]))
    return np.array(bias)


def equaliser(gain_db: np.ndarray) -> np.ndarray:
    """Per-bin linear gains from one gain per BAND_EDGES band, interpolated on a log-frequency axis
    between the bands' geometric centres (the lowest band's at 125 Hz)."""
    centres = np.array([125.0] + [np.sqrt(lo * hi) for lo, hi in zip(BAND_EDGES[1:], BAND_EDGES[2:])])
    hz = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    return 10 ** (np.interp(np.log(np.maximum(hz, 60.0)), np.log(centres), gain_db) / 20)


def score(mel: Callable, x: np.ndarray, y: np.ndarray, f0: np.ndarray) -> dict[str, float | None]:
    """The learning curves' scores of one utterance (bench_learning.score_utterance)."""
    ref, rec = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x, y))
    return score_utterance(mel, ref, rec, f0)


def mean_row(name: str, scores: list[dict[str, float | None]], utterances: list[int]) -> dict[str, object]:
    return {"variant": name, "utterances": utterances, **summarise(scores), "per_utterance": scores}


def print_table(rows: list[dict[str, object]]) -> None:
    print("\n| variant | dev utterances | mel distance | PESQ-WB | STOI | harmonic contrast (dB) |"
          "\n|---|---|---|---|---|---|")
    for r in rows:
        utts = r["utterances"]
        which = "all 8" if utts == list(range(8)) else ", ".join(map(str, utts))
        print(f"| {r['variant']} | {which} | {r['mel']:.3f} | {r['pesq_wb']:.3f} | {r['stoi']:.3f} | "
              f"{r['harmonic_contrast_db']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("results-bench"))
    parser.add_argument("--tracks", type=Path, default=Path("results-bench/source/f0_tracks.npz"),
                        help="diag_harmonic_source.py's pitch-track cache (made if missing)")
    parser.add_argument("--out", type=Path, default=Path("results-bench/ceiling"))
    parser.add_argument("--dev", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", default=[], help="score only these variants (repeatable)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                        help="also score a trained run's last kept dev reconstructions (DIR/audio/devI-stepN.wav, "
                             "bench_learning.py --keep-audio) and the ceilings on the same utterances")
    parser.add_argument("--all-steps", action="store_true", help="--model: every kept step, not only the last")
    args = parser.parse_args()

    import soundfile as sf
    from diag_harmonic_source import load_or_track

    from dscodec.audio import load_audio
    from dscodec.data.manifest import read_manifest
    from dscodec.losses import MelReconstructionLoss

    torch.set_num_threads(1)
    manifest = args.data / "data/librispeech"
    train_rows = read_manifest(manifest / "train.tsv").to_dict("records")
    dev_rows = pick_dev(manifest / "dev.tsv", args.dev, seed=0)
    tracks = load_or_track(args.tracks, train_rows, dev_rows, pitch_tracker(), load_audio)
    dev_wavs = [np.asarray(x, dtype=np.float64) for x in tracks["dev_wavs"]]
    dev_f0s = [np.asarray(f, dtype=np.float64) for f in tracks["dev_f0s"]]
    mel = MelReconstructionLoss(SR)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for name, make in variants().items():
        if args.only and name not in args.only:
            continue
        rng = np.random.default_rng(args.seed)
        torch.manual_seed(args.seed)      # Griffin-Lim's random initial phases
        scores = [score(mel, x, make(x, f0, rng), f0) for x, f0 in zip(dev_wavs, dev_f0s)]
        rows.append(mean_row(name, scores, list(range(len(dev_wavs)))))
        r = rows[-1]
        print(f"[{name}] mel {r['mel']:.3f} PESQ-WB {r['pesq_wb']:.3f} ({r['pesq_n']}/{r['n']}) STOI {r['stoi']:.3f} "
              f"harmonic contrast {r['harmonic_contrast_db']:.2f} dB",
              flush=True)
    model_rows: list[dict[str, object]] = []
    band_rows: list[tuple[str, list[int], np.ndarray]] = []
    for spec in args.model:
        name, folder = spec.split("=", 1)
        kept = {i: sorted(Path(folder, "audio").glob(f"dev{i}-step*.wav")) for i in range(len(dev_wavs))}
        kept = {i: files for i, files in kept.items() if files}
        if not kept:
            parser.error(f"--model {spec}: no {folder}/audio/devI-stepN.wav")
        steps = sorted({f.stem.split("step")[1] for files in kept.values() for f in files})
        for step in steps if args.all_steps else steps[-1:]:
            utts = [i for i in kept if Path(folder, "audio", f"dev{i}-step{step}.wav").is_file()]
            pairs = [(dev_wavs[i], sf.read(Path(folder, "audio", f"dev{i}-step{step}.wav"))[0][: len(dev_wavs[i])],
                      dev_f0s[i]) for i in utts]
            label = f"{name} (step {int(step)})"
            bias = np.mean([band_bias_db(x, y) for x, y, _ in pairs], axis=0)
            band_rows.append((label, utts, bias))
            scores: dict[str, list[dict[str, float | None]]] = {kind: [] for kind in MODEL_VARIANTS}
            for x, y, f0 in pairs:
                rng = np.random.default_rng(args.seed)
                for kind in MODEL_VARIANTS:   # the model's own output, then its magnitude with another phase
                    if kind == "own":
                        z = y
                    elif kind == "band-bias-removed":
                        z = istft(stft(y) * torch.from_numpy(equaliser(-bias))[:, None], len(y))
                    else:
                        z = with_phase(stft(y).abs(), kind, x, f0, rng)
                    scores[kind].append(score(mel, x, z, f0))
            for kind in MODEL_VARIANTS:
                suffix = {"own": "", "band-bias-removed": ", its band bias removed (fixed EQ)"}.get(
                    kind, f", its magnitude + {kind}")
                model_rows.append(mean_row(label + suffix, scores[kind], utts))
    subsets = sorted({tuple(m["utterances"]) for m in model_rows} - {tuple(range(len(dev_wavs)))})
    for utts in subsets:   # the ceilings on the models' utterances, for a like-for-like line
        model_rows += [mean_row(r["variant"], [r["per_utterance"][i] for i in utts], list(utts)) for r in rows]
    (args.out / "ceiling.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + model_rows))
    print_table(rows)
    if model_rows:
        print_table(model_rows)
        print("\n| run | dev utterances | " + " | ".join(f"{lo:g}-{hi:g} Hz" for lo, hi in zip(BAND_EDGES, BAND_EDGES[1:]))
              + " |\n|---|---|" + "---|" * (len(BAND_EDGES) - 1))
        for name, utts, bias in band_rows:
            print(f"| {name} | {', '.join(map(str, utts))} | " + " | ".join(f"{b:+.1f}" for b in bias) + " |")


if __name__ == "__main__":
    main()
