# Evaluation (logic: dscodec/evaluate/, CLI: `dscodec evaluate`). One job per (entity, test set):
#   R/eval/<system>-stage<N>/<testset>/{summary.json, scores.parquet, audio/}   DS-Codec checkpoints
#   R/eval/baseline-<name>/<testset>/...                                      evaluation.baselines
#   R/eval/ground-truth/<testset>/...                                         the references
# (paths: dscodec/layout.py; names and helpers: common.smk). The three rules are one command with
# another entity flag: evaluate_ground_truth is written out, the other two change what differs.
# A baseline whose weights are absent still "succeeds": its summary says not_run with the reason.
# `params: h` hashes the evaluation keys that change scores (dscodec/jobkeys.py): a metric change
# reruns evaluation only, and `workers`, `testsets` or another baseline's entry rerun nothing.
# Like the other rules, the resolved config is read but not declared as an input: it is rewritten
# whenever *any* section changes, and its new mtime would rerun every evaluation.


rule evaluate_ground_truth:
    """Score the references themselves (the paper's ground-truth row: non-intrusive metrics)."""
    input:
        manifest=eval_manifest,
    output:
        **eval_outputs(layout.GROUND_TRUTH),
    wildcard_constraints:
        **EVAL_CONSTRAINTS,
    params:
        h=jobkeys.eval_hash(config),
        out=lambda wc, output: str(Path(output.summary).parent),
        entity="--ground-truth",
    log:
        f"{R}/logs/eval/ground-truth-{{testset}}.log",
    benchmark:
        f"{R}/benchmarks/eval/ground-truth-{{testset}}.tsv"
    threads: EVAL_WORKERS
    resources:
        mem_mb=EVAL_MEM_MB,
        runtime=eval_runtime("ground_truth"),
    shell:
        "{DSCODEC} evaluate --config {RESOLVED_CONFIG} --testset {wildcards.testset} --out {params.out} "
        "{params.entity} --manifest {input.manifest} --workers {threads} > {log} 2>&1"


use rule evaluate_ground_truth as evaluate_system with:
    """Reconstruct a test set through the .dsc bitstream of a DS-Codec checkpoint and score it."""
    input:
        ckpt=lambda wc: layout.evaluated_checkpoint(config, wc.system, wc.stage),
        manifest=eval_manifest,
    output:
        **eval_outputs(layout.system_entity("{system}", "{stage}")),
    wildcard_constraints:
        system=alternatives(SYSTEMS),
        stage="1|2",
        **EVAL_CONSTRAINTS,
    params:
        h=jobkeys.eval_hash(config),
        entity=lambda wc: f"--system {wc.system} --stage {wc.stage}",
    log:
        f"{R}/logs/eval/{{system}}-stage{{stage}}-{{testset}}.log",
    benchmark:
        f"{R}/benchmarks/eval/{{system}}-stage{{stage}}-{{testset}}.tsv"
    resources:
        mem_mb=EVAL_MEM_MB,
        runtime=eval_runtime("dscodec"),
        gpu=EVAL_GPU,


use rule evaluate_ground_truth as evaluate_baseline with:
    """Reconstruct and score a test set with a reference codec (official checkpoint or classical codec)."""
    output:
        **eval_outputs(layout.baseline_entity("{baseline}")),
    wildcard_constraints:
        baseline=alternatives(EVAL_BASELINES),
        **EVAL_CONSTRAINTS,
    params:
        h=lambda wc: jobkeys.eval_hash(config, wc.baseline),
        entity=lambda wc: f"--baseline {wc.baseline}",
    log:
        f"{R}/logs/eval/baseline-{{baseline}}-{{testset}}.log",
    benchmark:
        f"{R}/benchmarks/eval/baseline-{{baseline}}-{{testset}}.tsv"
    resources:
        mem_mb=EVAL_MEM_MB,
        runtime=eval_runtime("baseline"),


rule evaluate_all:
    """Every evaluation: stage 2 of each system, stage 1 of systems that train their own, every
    baseline and the references, on every configured test set."""
    input:
        [layout.eval_summary(config, entity, testset) for entity in layout.eval_entities(config)
         for testset in EVAL_TESTSETS],
