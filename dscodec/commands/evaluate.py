"""`dscodec evaluate`: one evaluation job, a DS-Codec (system, stage), a baseline or the references
on one test set, into R/eval/<entity>/<testset>/{scores.parquet, summary.json, audio/}.

    dscodec evaluate --config R/config.yaml --testset librispeech_test --out R/eval/ds_codec_vq-stage2/librispeech_test \\
        --system ds_codec_vq --stage 2
    dscodec evaluate ... --baseline opus_6kbps        # an entry of evaluation.baselines
    dscodec evaluate ... --ground-truth               # the references themselves (non-intrusive metrics)

A baseline whose weights or tools are absent exits 0 with a summary of status "not_run" and the reason.
"""
from __future__ import annotations

import argparse

from dscodec.layout import TESTSETS

HELP = "reconstruct and score one test set with a DS-Codec system, a baseline, or the references"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="resolved config (R/config.yaml)")
    parser.add_argument("--testset", required=True, choices=tuple(TESTSETS))
    parser.add_argument("--out", required=True, help="output folder, R/eval/<entity>/<testset>")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--system", help="a DS-Codec system named in the config's `systems` (needs --stage)")
    which.add_argument("--baseline", help="an entry of the config's `evaluation.baselines`")
    which.add_argument("--ground-truth", action="store_true", help="score the references themselves")
    parser.add_argument("--stage", type=int, choices=(1, 2), help="training stage of --system")
    parser.add_argument("--manifest", default=None, help="default: the test set's manifest under R/data/")
    parser.add_argument("--workers", type=int, default=None, help="scoring processes (default: evaluation.workers)")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def run(args: argparse.Namespace) -> int:
    from dscodec.config import load_resolved, results_path
    from dscodec.errors import ConfigError

    config = load_resolved(args.config)
    if args.testset not in config["evaluation"]["testsets"]:
        raise ConfigError(f"--testset {args.testset} is not in evaluation.testsets {config['evaluation']['testsets']}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")

    import torch

    from dscodec.evaluate.runner import evaluate

    torch.set_num_threads(1)  # the scoring workers get the other cores
    if args.system is not None:
        from dscodec.evaluate.systems import DSCodecReconstructor

        if args.stage is None:
            raise ConfigError("--system needs --stage 1 or 2")
        reconstructor = DSCodecReconstructor.from_config(config, args.system, args.stage, args.testset)
        name, stage, kind = args.system, args.stage, "dscodec"
    elif args.baseline is not None:
        from dscodec.evaluate.baselines import build_baseline

        baselines = config["evaluation"].get("baselines") or {}
        if args.baseline not in baselines:
            raise ConfigError(f"--baseline {args.baseline!r} is not in evaluation.baselines "
                              f"({', '.join(baselines) or 'none configured'})")
        reconstructor = build_baseline(args.baseline, baselines[args.baseline], results_path(config, "cache", "baselines"))
        name, stage, kind = args.baseline, None, "baseline"
    else:
        from dscodec.evaluate.baselines.ground_truth import GroundTruth

        reconstructor = GroundTruth("ground-truth", {}, results_path(config, "cache", "baselines"))
        name, stage, kind = "ground-truth", None, "ground_truth"

    summary = evaluate(config, reconstructor, args.testset, args.out, system=name, stage=stage, kind=kind,
                       workers=args.workers, manifest=args.manifest, log_mlflow=not args.no_mlflow)
    if summary["status"] != "ok":
        print(f"dscodec evaluate: {name} on {args.testset}: not run: {summary.get('reason')}")
        return 0
    lines = [f"dscodec evaluate: {summary['label']} on {args.testset}: {summary['n_utterances']} utterances, "
             f"{summary['utterances_per_s']:.2f} utterances/s"]
    for col, entry in summary["metrics"].items():
        if "unavailable" in entry:
            lines.append(f"  {col}: unavailable: {entry['unavailable']}")
        elif entry["mean"] is None:
            lines.append(f"  {col}: no value ({entry['failures']} failures)")
        else:
            ci = f" ± {entry['ci95']:.3f}" if entry["ci95"] is not None else ""
            lines.append(f"  {col}: {entry['mean']:.3f}{ci} (n={entry['n']}, failures={entry['failures']})")
    print("\n".join(lines))
    return 0
