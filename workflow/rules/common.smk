import os
import re as _re
import sys
from pathlib import Path

from dscodec import jobkeys, layout
from dscodec.config import config_hash, reports_path
from dscodec.evaluate import cost as eval_cost
from dscodec.report import plan as report_plan

# Every global and function the rule files share, and no rules. Each rule file reads only names
# defined here (so include order does not matter) and holds only rules, as Snakemake's linter
# wants (no mixed rules and functions). Paths come from the results layout (dscodec/layout.py),
# which the runner, the report builder and the CLI ask too.
# Keep comments here free of a line with "rule", a blank and later a colon: the lint's regex
# takes such a line, comment or not, for a rule and reports mixed rules and functions.

R = config["results_dir"]
# Every job reads the same resolved config; the Snakefile's `onstart` writes it (never a dry run).
RESOLVED_CONFIG = str(Path(R) / "config.yaml")
SYSTEMS = config["systems"]


def cfg_hash(*keys):
    """A short hash of a config section; used in `params` so that a change re-runs the jobs that read it."""
    section = config
    for key in keys:
        section = section[key]
    return config_hash(section)


def alternatives(names):
    """Wildcard regex matching exactly these names (never empty, so a rule with none matches nothing)."""
    return "|".join(_re.escape(n) for n in names) or "^$"


# The CLI installed beside the Python that runs Snakemake, so rules work without activating the env.
_cli_beside_python = Path(sys.executable).with_name("dscodec")
DSCODEC = str(_cli_beside_python) if _cli_beside_python.exists() else "dscodec"


# ------------------------------------------------------------------------------- data (data.smk)
SAMPLE_CORPUS = f"{R}/corpus/sample"
DATA_SOURCES = {corpus: config["data"][corpus]["source"] for corpus in ("librispeech", "ljspeech")}
MANIFESTS = {
    "librispeech": [f"{R}/data/librispeech/{split}.tsv" for split in ("train", "dev", "test")],
    "ljspeech": [f"{R}/data/ljspeech/{split}.tsv" for split in ("all", "eval")],
}


def corpus_input(corpus):
    """What a prepare job waits for: the synthetic corpus, the verified download, or nothing (local root)."""
    source = DATA_SOURCES[corpus]
    if source == "sample":
        return [f"{SAMPLE_CORPUS}/synthesis.json"]
    if source == "download":
        return [f"{R}/data/{corpus}/download.json"]
    return []


# ------------------------------------------------------------------------------- training (train.smk)
TRAIN = config["train"]
# systems that train their own stage 1 (not `stage1_from`, not converted from BigCodec: bigcodec.smk)
STAGE1_SYSTEMS = layout.own_stage1_systems(config)
BIGCODEC_SYSTEMS = layout.bigcodec_systems(config)
TRAIN_GPUS = int(TRAIN["gpus"])
# Memory and wall-clock per job by model size; a cluster profile can override them (set-resources).
TRAIN_MEM_MB = {"tiny": 2000, "small": 6000, "paper": 48000}.get(config["model"]["size"], 48000)
TRAIN_RUNTIME_MIN = {"tiny": 30, "small": 240, "paper": 7 * 24 * 60}.get(config["model"]["size"], 7 * 24 * 60)


def _launcher():
    """`dscodec` for one process; torchrun (one process per GPU, DDP) when train.gpus > 1."""
    if TRAIN_GPUS > 1:
        torchrun = Path(sys.executable).with_name("torchrun")
        torchrun = str(torchrun) if torchrun.exists() else "torchrun"
        return f"{torchrun} --standalone --nproc_per_node {TRAIN_GPUS} -m dscodec.cli"
    return DSCODEC


# Deliberately not in `params`: the launcher's path depends on where the environment lives, and a
# param change would retrain every model after a mere environment rebuild.
TRAIN_LAUNCHER = _launcher()


def train_hash(system, stage):
    """What shapes this job's weights (dscodec/jobkeys.py): not threads, workers, GPUs or the device."""
    return jobkeys.train_hash(config, system, stage)


def out_folder(wildcards, output):
    """`--out` of a job: the folder of its first output (os.path, so the string is the rule's own)."""
    return os.path.dirname(output[0])


# ------------------------------------------------------------------------------- evaluation (evaluate.smk)
EVAL = config["evaluation"]
EVAL_TESTSETS = list(EVAL["testsets"])
EVAL_BASELINES = list((EVAL.get("baselines") or {}).keys())
EVAL_WORKERS = int(EVAL["workers"])
EVAL_MEM_MB = 3000 + 1500 * EVAL_WORKERS  # each scoring worker holds its own metric models
# Only a DS-Codec job reconstructs on `device`; metrics and baselines run on the CPU. So a GPU (and,
# through the SLURM profile's partition table, the GPU partition) is requested by DS-Codec jobs
# with `device: cuda` only.
EVAL_GPU = 1 if eval_cost.evaluates_on_cuda(config, "dscodec") else 0
EVAL_CONSTRAINTS = dict(testset=alternatives(EVAL_TESTSETS))


def eval_manifest(wildcards):
    """The manifest of the job's test set (layout.TESTSETS)."""
    return layout.manifest(config, wildcards.testset)


def eval_outputs(entity):
    """summary.json and scores.parquet of an entity's evaluation (wildcards allowed in `entity`)."""
    folder = layout.eval_dir(config, entity, "{testset}")
    return dict(summary=f"{folder}/summary.json", scores=f"{folder}/scores.parquet")


def eval_runtime(kind):
    """Runtime (minutes) from the measured per-utterance cost x the utterances the job scores
    (dscodec/evaluate/cost.py); a job that outlives it resumes from its scored utterances."""

    def runtime(wildcards, input):
        manifest = Path(input.manifest)
        rows = sum(1 for _ in manifest.open()) - 1 if manifest.exists() else None  # header line
        n = eval_cost.expected_utterances(config, wildcards.testset, rows)
        return eval_cost.runtime_minutes(config, kind, n, EVAL_WORKERS)

    return runtime


# ------------------------------------------------------------------------------- reports (report.smk)
REPORTS = str(reports_path(config))
REPORT_TARGETS = report_plan.available_targets(config)


def report_outputs(target):
    """Files a report target writes; empty when the config has nothing for it (e.g. no LJSpeech)."""
    return report_plan.target_outputs(config, target) if target in REPORT_TARGETS else []
