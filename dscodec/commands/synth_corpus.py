"""`dscodec synth-corpus`: write the built-in synthetic sample corpus (LibriSpeech + LJSpeech layouts)."""
from __future__ import annotations

import argparse

HELP = "synthesise the built-in multi-speaker sample corpus in the LibriSpeech and LJSpeech layouts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="resolved config (<results_dir>/config.yaml)")
    parser.add_argument("--out", required=True, help="output folder, e.g. <results_dir>/corpus/sample")


def run(args: argparse.Namespace) -> int:
    from dscodec.config import load_resolved
    from dscodec.data.synth import synthesize_corpus

    cfg = load_resolved(args.config)
    sc = cfg["data"]["sample_corpus"]
    engines = sc.get("engines") or ["flite", "espeak-ng", "espeakng-loader"]
    summary = synthesize_corpus(args.out, minutes=float(sc["minutes"]), seed=int(sc["seed"]), engines=engines)
    print(f"synth-corpus: {summary['files']['flac']} FLAC + {summary['files']['wav']} WAV files, "
          f"{summary['total_seconds'] / 60:.1f} min, {summary['distinct_voices']} voices, "
          f"{summary['elapsed_seconds']} s -> {args.out}")
    return 0
