# Two-stage training (logic: dscodec/train/, CLI: `dscodec train`). One job per (system, stage):
#   R/models/<system>/stage1/ckpt.pt   mirror training (joint non-mirror for `stage1: nonmirror`)
#   R/models/<system>/stage2/ckpt.pt   decoder training from the stage-1 checkpoint of the system
#                                      (or of its `stage1_from` system)
# A job writes R/models/<system>/stage<N>/last.pt every `checkpoint_every` steps; last.pt is not a
# declared output, so Snakemake keeps it when a job dies and the rerun (`--rerun-incomplete`)
# resumes from it. With `train.gpus > 1` the job is launched with `torchrun --nproc_per_node`.
import sys as _sys
from pathlib import Path as _Path

from dscodec import jobkeys

TRAIN = config["train"]
SYSTEMS = config["systems"]
# systems that train their own stage 1 (not `stage1_from`, not converted from BigCodec: bigcodec.smk)
STAGE1_SYSTEMS = [name for name, spec in SYSTEMS.items()
                  if not spec.get("stage1_from") and not spec.get("init_from_bigcodec")]
TRAIN_GPUS = int(TRAIN["gpus"])
# Memory and wall-clock per job by model size; a cluster profile can override them (set-resources).
TRAIN_MEM_MB = {"tiny": 2000, "small": 6000, "paper": 48000}.get(config["model"]["size"], 48000)
TRAIN_RUNTIME_MIN = {"tiny": 30, "small": 240, "paper": 7 * 24 * 60}.get(config["model"]["size"], 7 * 24 * 60)


def _launcher():
    """`dscodec` for one process; torchrun (one process per GPU, DDP) when train.gpus > 1."""
    if TRAIN_GPUS > 1:
        torchrun = _Path(_sys.executable).with_name("torchrun")
        torchrun = str(torchrun) if torchrun.exists() else "torchrun"
        return f"{torchrun} --standalone --nproc_per_node {TRAIN_GPUS} -m dscodec.cli"
    return DSCODEC


# Not a rule param on purpose: the launcher's path depends on where the environment lives, and a
# param change would retrain every model after a mere environment rebuild.
TRAIN_LAUNCHER = _launcher()


def stage1_ckpt(system):
    """The stage-1 checkpoint a system's stage 2 starts from."""
    source = SYSTEMS[system].get("stage1_from") or system
    if SYSTEMS[source].get("init_from_bigcodec"):
        return f"{R}/models/{source}/stage1-bigcodec/ckpt.pt"  # converted, workflow/rules/bigcodec.smk
    return f"{R}/models/{source}/stage1/ckpt.pt"


def train_hash(system, stage):
    """What shapes this job's weights (dscodec/jobkeys.py): not threads, workers, GPUs or the device."""
    return jobkeys.train_hash(config, system, stage)


rule train_stage1:
    """Stage 1: mirror training (paper §2.3), or joint non-mirror training for the APCodec+ ablation."""
    input:
        train=f"{R}/data/librispeech/train.tsv",
        dev=f"{R}/data/librispeech/dev.tsv",
    output:
        ckpt=f"{R}/models/{{system}}/stage1/ckpt.pt",
        summary=f"{R}/models/{{system}}/stage1/train_summary.json",
    wildcard_constraints:
        system="|".join(STAGE1_SYSTEMS) or "^$",
    params:
        h=lambda wc: train_hash(wc.system, 1),
        out=lambda wc: f"{R}/models/{wc.system}/stage1",
    log:
        f"{R}/logs/train/{{system}}-stage1.log",
    benchmark:
        f"{R}/benchmarks/train/{{system}}-stage1.tsv"
    threads: TRAIN["threads"]
    resources:
        mem_mb=TRAIN_MEM_MB,
        runtime=TRAIN_RUNTIME_MIN,
        gpu=TRAIN_GPUS,
    shell:
        "{TRAIN_LAUNCHER} train --config {RESOLVED_CONFIG} --system {wildcards.system} --stage 1 "
        "--out {params.out} --train-manifest {input.train} --dev-manifest {input.dev} 2>&1 | tee {log}"


rule train_stage2:
    """Stage 2: freeze encoder + quantizer, insert the Transformer (unless `stage2: plain`),
    re-initialise the discriminators, train the decoder (paper §2.3)."""
    input:
        stage1=lambda wc: stage1_ckpt(wc.system),
        train=f"{R}/data/librispeech/train.tsv",
        dev=f"{R}/data/librispeech/dev.tsv",
    output:
        ckpt=f"{R}/models/{{system}}/stage2/ckpt.pt",
        summary=f"{R}/models/{{system}}/stage2/train_summary.json",
    wildcard_constraints:
        system="|".join(SYSTEMS),
    params:
        h=lambda wc: train_hash(wc.system, 2),
        out=lambda wc: f"{R}/models/{wc.system}/stage2",
    log:
        f"{R}/logs/train/{{system}}-stage2.log",
    benchmark:
        f"{R}/benchmarks/train/{{system}}-stage2.tsv"
    threads: TRAIN["threads"]
    resources:
        mem_mb=TRAIN_MEM_MB,
        runtime=TRAIN_RUNTIME_MIN,
        gpu=TRAIN_GPUS,
    shell:
        "{TRAIN_LAUNCHER} train --config {RESOLVED_CONFIG} --system {wildcards.system} --stage 2 "
        "--stage1-ckpt {input.stage1} --out {params.out} --train-manifest {input.train} "
        "--dev-manifest {input.dev} 2>&1 | tee {log}"


TRAINED_MODELS = [f"{R}/models/{name}/stage1/ckpt.pt" for name in STAGE1_SYSTEMS] + [
    f"{R}/models/{name}/stage2/ckpt.pt" for name in SYSTEMS
]


rule train_all:
    """Every training job of the config: stage 1 of each system that trains its own, stage 2 of all."""
    input:
        TRAINED_MODELS,
