"""The results layout: where every file of a run lives under `results_dir` (R).

One module answers "where is it" for the workflow rules, the evaluation runner, the report
builder and the CLI, so they cannot drift apart (as dscodec/report/plan.py does for "what does a
report need"). Why it matters: a path or a stage-1 rule written in several places made adding a
test set touch seven files; now a test set is one TESTSETS entry here plus its data reader.

    R/data/<corpus>/<manifest>.tsv                  test-set manifests (TESTSETS)
    R/models/<system>/stage<N>/ckpt.pt              trained checkpoints
    R/models/<system>/stage1-bigcodec/ckpt.pt       stage 1 converted from BigCodec
    R/eval/<entity>/<testset>/summary.json          one evaluation job

Paths are returned as `f"{R}/..."` strings, exactly as the rules always wrote them, so the
Snakemake job list is unchanged; Python callers wrap them in Path. Pure: imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

GROUND_TRUTH = "ground-truth"  # the entity folder of the references under R/eval/
REFERENCE_FEATURES = "_reference"  # R/eval/_reference/<testset>: reference features shared by the jobs
ENCODER_TOKENS = "_tokens"  # R/eval/_tokens/<testset>: tokens shared by checkpoints with one encoder


@dataclass(frozen=True)
class TestSet:
    """Where a test set's manifest is written by its data reader (dscodec/data/prepare.py)."""

    __test__ = False  # not a pytest test class despite the name
    corpus: str      # folder under R/data/
    manifest: str    # manifest file in that folder


# test set name -> its manifest. Adding a test set: one entry here plus the reader that writes it.
TESTSETS: dict[str, TestSet] = {
    "librispeech_test": TestSet("librispeech", "test.tsv"),
    "ljspeech_eval": TestSet("ljspeech", "eval.tsv"),
}


def _root(cfg: Mapping[str, Any]) -> str:
    return str(cfg["results_dir"])


def testset(name: str) -> TestSet:
    """The registered test set; an unknown name is a config error naming the known ones."""
    if name not in TESTSETS:
        from dscodec.errors import ConfigError

        raise ConfigError(f"unknown test set {name!r}; known: {', '.join(TESTSETS)}")
    return TESTSETS[name]


def manifest(cfg: Mapping[str, Any], name: str) -> str:
    """librispeech_test -> R/data/librispeech/test.tsv, ljspeech_eval -> R/data/ljspeech/eval.tsv."""
    entry = testset(name)
    return f"{_root(cfg)}/data/{entry.corpus}/{entry.manifest}"


def training_manifest(cfg: Mapping[str, Any], split: str) -> str:
    """R/data/librispeech/<split>.tsv: the train and dev manifests both training stages read."""
    return f"{_root(cfg)}/data/librispeech/{split}.tsv"


# ------------------------------------------------------------------------------- stage 1
def stage1_source(cfg: Mapping[str, Any], system: str) -> str:
    """The system whose stage 1 `system` uses: itself, or X for `stage1_from: X` (the one place
    that reads `stage1_from`)."""
    return cfg["systems"][system].get("stage1_from") or system


def trains_own_stage1(cfg: Mapping[str, Any], system: str) -> bool:
    """False for a system that reuses another's stage 1 or converts BigCodec's checkpoint."""
    return stage1_source(cfg, system) == system and not cfg["systems"][system].get("init_from_bigcodec")


def own_stage1_systems(cfg: Mapping[str, Any]) -> list[str]:
    """Systems with a stage-1 training job (in config order)."""
    return [name for name in cfg["systems"] if trains_own_stage1(cfg, name)]


def bigcodec_systems(cfg: Mapping[str, Any]) -> list[str]:
    """Systems whose stage 1 is converted from BigCodec's checkpoint (`init_from_bigcodec`)."""
    return [name for name, spec in cfg["systems"].items() if spec.get("init_from_bigcodec")]


# ------------------------------------------------------------------------------- models
def model_dir(cfg: Mapping[str, Any], system: str, stage: int | str) -> str:
    """R/models/<system>/stage<N>: the training job's output folder."""
    return f"{_root(cfg)}/models/{system}/stage{stage}"


def model_checkpoint(cfg: Mapping[str, Any], system: str, stage: int | str) -> str:
    """R/models/<system>/stage<N>/ckpt.pt as trained by that system's own job."""
    return f"{model_dir(cfg, system, stage)}/ckpt.pt"


def train_summary(cfg: Mapping[str, Any], system: str, stage: int | str) -> str:
    """R/models/<system>/stage<N>/train_summary.json: what the training job reports beside its checkpoint."""
    return f"{model_dir(cfg, system, stage)}/train_summary.json"


def bigcodec_checkpoint(cfg: Mapping[str, Any], system: str) -> str:
    """R/models/<system>/stage1-bigcodec/ckpt.pt: its own folder, so a trained stage 1 is never overwritten."""
    return f"{_root(cfg)}/models/{system}/stage1-bigcodec/ckpt.pt"


def evaluated_checkpoint(cfg: Mapping[str, Any], system: str, stage: int | str) -> str:
    """The checkpoint an evaluation of (system, stage) reads; stage 1 of a `stage1_from: X` system is X's."""
    source = stage1_source(cfg, system) if int(stage) == 1 else system
    return model_checkpoint(cfg, source, stage)


def stage2_start(cfg: Mapping[str, Any], system: str) -> str:
    """The stage-1 checkpoint a system's stage 2 starts from (converted one for BigCodec systems)."""
    source = stage1_source(cfg, system)
    if cfg["systems"][source].get("init_from_bigcodec"):
        return bigcodec_checkpoint(cfg, source)
    return model_checkpoint(cfg, source, 1)


# ------------------------------------------------------------------------------- evaluations
def system_entity(system: str, stage: int | str) -> str:
    """Entity folder of a DS-Codec (system, stage) under R/eval/."""
    return f"{system}-stage{stage}"


def baseline_entity(name: str) -> str:
    """Entity folder of an `evaluation.baselines` entry under R/eval/."""
    return f"baseline-{name}"


def eval_root(cfg: Mapping[str, Any]) -> str:
    """R/eval: one folder per entity, one per test set inside."""
    return f"{_root(cfg)}/eval"


def eval_dir(cfg: Mapping[str, Any], entity: str, name: str) -> str:
    """R/eval/<entity>/<testset>: one evaluation job's output folder."""
    return f"{eval_root(cfg)}/{entity}/{name}"


def eval_summary(cfg: Mapping[str, Any], entity: str, name: str) -> str:
    """R/eval/<entity>/<testset>/summary.json: the file that marks an evaluation done."""
    return f"{eval_dir(cfg, entity, name)}/summary.json"


def eval_entities(cfg: Mapping[str, Any]) -> list[str]:
    """Every evaluated entity: stage 2 of each system, stage 1 of those that train their own,
    every baseline, the references."""
    systems = cfg["systems"]
    baselines = cfg["evaluation"].get("baselines") or {}
    return ([system_entity(name, 2) for name in systems]
            + [system_entity(name, 1) for name in own_stage1_systems(cfg)]
            + [baseline_entity(name) for name in baselines]
            + [GROUND_TRUTH])
