# Evaluation (logic: dscodec/evaluate/, CLI: `dscodec evaluate`). One job per (entity, test set):
#   R/eval/<system>-stage<N>/<testset>/{summary.json, scores.parquet, audio/}   DS-Codec checkpoints
#   R/eval/baseline-<name>/<testset>/...                                      evaluation.baselines
#   R/eval/ground-truth/<testset>/...                                         the references
# A baseline whose weights are absent still "succeeds": its summary says not_run with the reason.
# `params: h` hashes the evaluation keys that change scores (dscodec/jobkeys.py): a metric change
# reruns evaluation only, and `workers`, `testsets` or another baseline's entry rerun nothing.
# Like the other rules, the resolved config is read but not declared as an input: it is rewritten
# whenever *any* section changes, and its new mtime would rerun every evaluation.
import re as _re

from dscodec import jobkeys
from dscodec.evaluate import cost as eval_cost

EVAL = config["evaluation"]
EVAL_TESTSETS = list(EVAL["testsets"])
EVAL_BASELINES = list((EVAL.get("baselines") or {}).keys())
EVAL_WORKERS = int(EVAL["workers"])
EVAL_MANIFESTS = {"librispeech_test": f"{R}/data/librispeech/test.tsv", "ljspeech_eval": f"{R}/data/ljspeech/eval.tsv"}
EVAL_MEM_MB = 3000 + 1500 * EVAL_WORKERS  # each scoring worker holds its own metric models
# Only a DS-Codec job reconstructs on `device`; metrics and baselines run on the CPU. So a GPU (and,
# through the SLURM profile's partition table, the GPU partition) is requested by DS-Codec jobs
# with `device: cuda` only.
EVAL_GPU = 1 if eval_cost.evaluates_on_cuda(config, "dscodec") else 0


def eval_runtime(kind):
    """Runtime (minutes) from the measured per-utterance cost x the utterances the job scores
    (dscodec/evaluate/cost.py); a job that outlives it resumes from its scored utterances."""

    def runtime(wildcards, input):
        manifest = Path(input.manifest)
        rows = sum(1 for _ in manifest.open()) - 1 if manifest.exists() else None  # header line
        n = eval_cost.expected_utterances(config, wildcards.testset, rows)
        return eval_cost.runtime_minutes(config, kind, n, EVAL_WORKERS)

    return runtime


def _alternatives(names):
    """Wildcard regex matching exactly these names (never empty, so a rule with none matches nothing)."""
    return "|".join(_re.escape(n) for n in names) or "^$"


def eval_checkpoint(system, stage):
    """The checkpoint evaluated for (system, stage); stage 1 of a `stage1_from: X` system is X's."""
    if int(stage) == 1:
        return f"{R}/models/{SYSTEMS[system].get('stage1_from') or system}/stage1/ckpt.pt"
    return f"{R}/models/{system}/stage2/ckpt.pt"


EVAL_CONSTRAINTS = dict(testset=_alternatives(EVAL_TESTSETS))


rule evaluate_system:
    """Reconstruct a test set through the .dsc bitstream of a DS-Codec checkpoint and score it."""
    input:
        ckpt=lambda wc: eval_checkpoint(wc.system, wc.stage),
        manifest=lambda wc: EVAL_MANIFESTS[wc.testset],
    output:
        summary=f"{R}/eval/{{system}}-stage{{stage}}/{{testset}}/summary.json",
        scores=f"{R}/eval/{{system}}-stage{{stage}}/{{testset}}/scores.parquet",
    wildcard_constraints:
        system=_alternatives(SYSTEMS),
        stage="1|2",
        **EVAL_CONSTRAINTS,
    params:
        h=jobkeys.eval_hash(config),
        out=lambda wc, output: str(Path(output.summary).parent),
    log:
        f"{R}/logs/eval/{{system}}-stage{{stage}}-{{testset}}.log",
    benchmark:
        f"{R}/benchmarks/eval/{{system}}-stage{{stage}}-{{testset}}.tsv"
    threads: EVAL_WORKERS
    resources:
        mem_mb=EVAL_MEM_MB,
        runtime=eval_runtime("dscodec"),
        gpu=EVAL_GPU,
    shell:
        "{DSCODEC} evaluate --config {RESOLVED_CONFIG} --testset {wildcards.testset} --out {params.out} "
        "--system {wildcards.system} --stage {wildcards.stage} --manifest {input.manifest} "
        "--workers {threads} > {log} 2>&1"


rule evaluate_baseline:
    """Reconstruct and score a test set with a reference codec (official checkpoint or classical codec)."""
    input:
        manifest=lambda wc: EVAL_MANIFESTS[wc.testset],
    output:
        summary=f"{R}/eval/baseline-{{baseline}}/{{testset}}/summary.json",
        scores=f"{R}/eval/baseline-{{baseline}}/{{testset}}/scores.parquet",
    wildcard_constraints:
        baseline=_alternatives(EVAL_BASELINES),
        **EVAL_CONSTRAINTS,
    params:
        h=lambda wc: jobkeys.eval_hash(config, wc.baseline),
        out=lambda wc, output: str(Path(output.summary).parent),
    log:
        f"{R}/logs/eval/baseline-{{baseline}}-{{testset}}.log",
    benchmark:
        f"{R}/benchmarks/eval/baseline-{{baseline}}-{{testset}}.tsv"
    threads: EVAL_WORKERS
    resources:
        mem_mb=EVAL_MEM_MB,
        runtime=eval_runtime("baseline"),
    shell:
        "{DSCODEC} evaluate --config {RESOLVED_CONFIG} --testset {wildcards.testset} --out {params.out} "
        "--baseline {wildcards.baseline} --manifest {input.manifest} --workers {threads} > {log} 2>&1"


rule evaluate_ground_truth:
    """Score the references themselves (the paper's ground-truth row: non-intrusive metrics)."""
    input:
        manifest=lambda wc: EVAL_MANIFESTS[wc.testset],
    output:
        summary=f"{R}/eval/ground-truth/{{testset}}/summary.json",
        scores=f"{R}/eval/ground-truth/{{testset}}/scores.parquet",
    wildcard_constraints:
        **EVAL_CONSTRAINTS,
    params:
        h=jobkeys.eval_hash(config),
        out=lambda wc, output: str(Path(output.summary).parent),
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
        "--ground-truth --manifest {input.manifest} --workers {threads} > {log} 2>&1"


EVAL_ENTITIES = (
    [f"{name}-stage2" for name in SYSTEMS]
    + [f"{name}-stage1" for name in STAGE1_SYSTEMS]
    + [f"baseline-{name}" for name in EVAL_BASELINES]
    + ["ground-truth"]
)


rule evaluate_all:
    """Every evaluation: stage 2 of each system, stage 1 of systems that train their own, every
    baseline and the references, on every configured test set."""
    input:
        [f"{R}/eval/{entity}/{testset}/summary.json" for entity in EVAL_ENTITIES for testset in EVAL_TESTSETS],
