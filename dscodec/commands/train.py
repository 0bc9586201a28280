"""`dscodec train`: train one (system, stage) of DS-Codec into R/models/<system>/stage<N>/.

Writes `last.pt` every `checkpoint_every` steps (a killed job rerun with the same
arguments resumes from it), `ckpt.pt` at the end (format "dscodec-ckpt-v1") and a small
`train_summary.json`. Logs to MLflow: one run per (system, stage), resumed with the job.

Only one trainer works in an output folder at a time (`dscodec.train.folder_lock`). The id
of the MLflow run a trainer opened is kept in `<out>/mlflow_run.json`: a rerun that cannot
resume that run (killed before its first checkpoint, or `--no-resume`) closes it as KILLED
instead of leaving it RUNNING beside the new one; a rerun that resumes it logs only the
steps the run does not hold yet, so its history has each step once.
"""
from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

HELP = "train one stage of a DS-Codec system (stage 1: mirror / joint; stage 2: decoder training)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="resolved config (R/config.yaml)")
    parser.add_argument("--system", required=True, help="a system named in the config's `systems`")
    parser.add_argument("--stage", required=True, type=int, choices=(1, 2))
    parser.add_argument("--out", required=True, help="output folder, R/models/<system>/stage<N>")
    parser.add_argument("--stage1-ckpt", default=None,
                        help="stage-1 checkpoint for stage 2 (default: R/models/<system or stage1_from>/stage1/ckpt.pt, "
                             "stage1-bigcodec/ckpt.pt with `init_from_bigcodec`)")
    parser.add_argument("--train-manifest", default=None, help="default: R/data/librispeech/train.tsv")
    parser.add_argument("--dev-manifest", default=None, help="default: R/data/librispeech/dev.tsv")
    parser.add_argument("--no-resume", action="store_true", help="ignore an existing last.pt and start afresh")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def run(args: argparse.Namespace) -> int:
    import torch

    from dscodec import layout
    from dscodec.config import load_resolved
    from dscodec.train import distributed as dist_utils
    from dscodec.train.folder_lock import folder_lock
    from dscodec.train.stages import system_config

    config = load_resolved(args.config)
    system_config(config, args.system)  # unknown system -> ConfigError
    out = Path(args.out)
    stage1_ckpt = None
    if args.stage == 2:
        stage1_ckpt = Path(args.stage1_ckpt or layout.stage2_start(config, args.system))
    train_manifest = args.train_manifest or Path(layout.training_manifest(config, "train"))
    dev_manifest = args.dev_manifest or Path(layout.training_manifest(config, "dev"))
    if not Path(dev_manifest).is_file():
        dev_manifest = None

    torch.set_num_threads(int(config["train"]["threads"]))
    info = dist_utils.setup(config["device"])
    try:
        # rank 0 speaks for the job; a second job's rank 0 stops here, before touching the folder
        lock = folder_lock(out, warn=_warn) if info.is_main else contextlib.nullcontext()
        with lock:
            return _train(args, config, out, stage1_ckpt, train_manifest, dev_manifest, info)
    finally:
        dist_utils.cleanup()


def _warn(message: str) -> None:
    print(f"dscodec train: warning: {message}", flush=True)


def _train(args: argparse.Namespace, config: Any, out: Path, stage1_ckpt: Path | None, train_manifest: Any,
           dev_manifest: Any, info: Any) -> int:
    """Build the trainer, resume `last.pt` when it matches the settings, train (under the folder lock)."""
    from dscodec.train.checkpoint import load_checkpoint
    from dscodec.train.loop import LAST, Trainer, resume_fingerprint
    from dscodec.train.stages import build_stage

    setup = build_stage(config, args.system, args.stage, stage1_ckpt)
    fingerprint = resume_fingerprint(config, args.system, args.stage, stage1_ckpt)

    resume = None
    last = out / LAST
    if last.exists() and not args.no_resume:
        ckpt = load_checkpoint(last)
        if ckpt.get("extra", {}).get("fingerprint") == fingerprint:
            resume = ckpt
        elif info.is_main:
            print(f"dscodec train: {last} was written under other settings; starting afresh", flush=True)

    trainer = Trainer(config, args.system, args.stage, setup, out, train_manifest=train_manifest,
                      dev_manifest=dev_manifest, info=info, fingerprint=fingerprint)
    if resume is not None:
        trainer.load_state(resume)
        if info.is_main:
            print(f"dscodec train: resuming {args.system} stage {args.stage} from step {trainer.step}", flush=True)

    if args.no_mlflow or not info.is_main:
        trainer.run()
        return 0
    return _run_tracked(config, args, trainer, resume, out)


def _run_tracked(config: Any, args: argparse.Namespace, trainer: Any, resume: Any, out: Path) -> int:
    """Train inside the (system, stage) MLflow run; a resumed job continues its run."""
    import contextlib

    from dscodec import tracking

    run_id = (resume or {}).get("extra", {}).get("mlflow_run_id")
    previous = tracking.read_run_record(out)
    name = f"{args.system}-stage{args.stage}"
    tags = {"system": args.system, "stage": str(args.stage), "job": "train",
            "label": config["systems"][args.system].get("label", args.system)}
    with contextlib.ExitStack() as stack:
        try:
            run = stack.enter_context(tracking.start_run(config, name, tags, run_id=run_id, params=config))
        except Exception:  # noqa: BLE001 - the old run may be gone (store deleted): open a new one
            if run_id is None:
                raise
            run = stack.enter_context(tracking.start_run(config, name, tags, params=config))
            resume = None
        trainer.extra["mlflow_run_id"] = run.info.run_id
        tracking.write_run_record(out, run.info.run_id)
        if previous is not None and previous != run.info.run_id and tracking.close_dangling_run(
                previous, replaced_by=run.info.run_id):
            print(f"dscodec train: MLflow run {previous} of a killed attempt (no checkpoint to resume it from) "
                  f"marked KILLED; logging to {run.info.run_id}", flush=True)
        if resume is not None:
            trainer.skip_logged(tracking.last_logged_steps(run.info.run_id))
        trainer.sink = tracking
        if resume is None:
            tracking.log_params({"codec_parameters": trainer.codec.num_parameters(),
                                 "stage1_checkpoint": str(trainer.setup.init_from)})
        summary = trainer.run()
        tracking.set_tags({"checkpoint": summary["checkpoint"]})
        tracking.log_artifact(out / "train_summary.json")
    return 0
