# Two-stage training (logic: dscodec/train/, CLI: `dscodec train`). One job per (system, stage):
#   R/models/<system>/stage1/ckpt.pt   mirror training (joint non-mirror for `stage1: nonmirror`)
#   R/models/<system>/stage2/ckpt.pt   decoder training from the stage-1 checkpoint of the system
#                                      (or of its `stage1_from` system: layout.stage2_start)
# A job writes R/models/<system>/stage<N>/last.pt every `checkpoint_every` steps; last.pt is not a
# declared output, so Snakemake keeps it when a job dies and the rerun (`--rerun-incomplete`)
# resumes from it. With `train.gpus > 1` the job is launched with `torchrun --nproc_per_node`.
# Paths: dscodec/layout.py; names and helpers: common.smk.


rule train_stage1:
    """Stage 1: mirror training (paper §2.3), or joint non-mirror training for the APCodec+ ablation."""
    input:
        train=layout.training_manifest(config, "train"),
        dev=layout.training_manifest(config, "dev"),
    output:
        ckpt=layout.model_checkpoint(config, "{system}", 1),
        summary=layout.train_summary(config, "{system}", 1),
    wildcard_constraints:
        system="|".join(STAGE1_SYSTEMS) or "^$",
    params:
        h=lambda wc: train_hash(wc.system, 1),
        out=out_folder,
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
        stage1=lambda wc: layout.stage2_start(config, wc.system),
        train=layout.training_manifest(config, "train"),
        dev=layout.training_manifest(config, "dev"),
    output:
        ckpt=layout.model_checkpoint(config, "{system}", 2),
        summary=layout.train_summary(config, "{system}", 2),
    wildcard_constraints:
        system="|".join(SYSTEMS),
    params:
        h=lambda wc: train_hash(wc.system, 2),
        out=out_folder,
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


rule train_all:
    """Every training job of the config: stage 1 of each system that trains its own, stage 2 of all."""
    input:
        [layout.model_checkpoint(config, name, 1) for name in STAGE1_SYSTEMS],
        [layout.model_checkpoint(config, name, 2) for name in SYSTEMS],
