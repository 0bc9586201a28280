"""What a training or evaluation job's result depends on: the config keys that change it.

The Snakemake rules hash these (`params: h`) so that a config edit reruns exactly the jobs whose
results it changes, and an evaluation job uses the same key to decide whether the utterances a
killed run already scored may be reused. Keys that only decide *how* a job runs (processes,
threads, GPUs, the device, compilation) are left out: moving from 1 to 2 GPUs must not retrain
seven models. `precision` stays in: bf16 autocast changes the arithmetic, hence the weights.
Settings that moved from `model.overrides` to `train` (dscodec.models.sizes.MOVED_TO_TRAIN) are
hashed at their old place (`hashed_model_and_train`), so the move itself reran nothing.
"""
from __future__ import annotations

from typing import Any, Mapping

from dscodec.config import config_hash

# train.* keys that decide how a training job runs, not what it learns.
TRAIN_EXECUTION_KEYS = ("num_workers", "threads", "gpus", "compile")
# evaluation.* keys that decide how or where evaluation runs, or which *other* jobs exist.
# pitch_frame_cache only decides whether a cut reference's pitch track is derived or recomputed
# (bit-identical, tests/test_metrics_intrusive.py).
EVAL_EXECUTION_KEYS = ("workers", "testsets", "baselines", "pitch_frame_cache")


def presets_revision() -> dict[str, int]:
    """{"presets_revision": N} once the size presets have been edited (N > 1), else {}: `model.size`
    is hashed by name, so an edited preset must change the hash some other way."""
    from dscodec.models.sizes import PRESETS_REVISION

    return {"presets_revision": PRESETS_REVISION} if PRESETS_REVISION > 1 else {}


def hashed_model_and_train(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `model` and `train` sections as hashed: `train.dead_code_reset` and the fields of
    `train.discriminator_overrides` back under `model.overrides`, where they were before they moved,
    so a config that trains the same as before keeps its hash (and a finished run is not retrained),
    while a change of either still changes the hash; `model` carries the presets' revision once
    there is one (presets_revision), for every hash built from it (trainings, resume, BigCodec import)."""
    train = dict(cfg["train"])
    model = dict(cfg["model"])
    overrides = dict(model.get("overrides") or {})
    if "dead_code_reset" in train:
        overrides["dead_code_reset"] = train.pop("dead_code_reset")
    overrides.update(train.pop("discriminator_overrides", None) or {})
    model["overrides"] = overrides
    model.update(presets_revision())
    return model, train


def train_key(cfg: Mapping[str, Any], system: str, stage: int) -> dict[str, Any]:
    """Everything that shapes this (system, stage) training run (a stage-2 edit leaves stage 1 alone)."""
    model, train = hashed_model_and_train(cfg)
    shared = {k: v for k, v in train.items() if k not in ("stage1", "stage2", *TRAIN_EXECUTION_KEYS)}
    if shared.get("loss_reduction") == "mean":  # the implicit default: runs trained before the switch stay valid
        del shared["loss_reduction"]
    return {"seed": cfg["seed"], "model": model, "train": shared,
            "stage": train[f"stage{int(stage)}"], "system": cfg["systems"][system]}


def train_hash(cfg: Mapping[str, Any], system: str, stage: int) -> str:
    return config_hash(train_key(cfg, system, stage))


def eval_key(cfg: Mapping[str, Any], baseline: str | None = None) -> dict[str, Any]:
    """The evaluation settings that change a job's scores; a baseline job adds its own spec only."""
    from dscodec.evaluate.testsets import subset_seed

    evaluation = cfg["evaluation"]
    key = {k: v for k, v in evaluation.items() if k not in EVAL_EXECUTION_KEYS}
    key["subset_seed"] = subset_seed(cfg)  # resolved: it falls back to the config seed
    if baseline is not None:
        key["baseline"] = {"name": baseline, "spec": (evaluation.get("baselines") or {}).get(baseline)}
    return key


def eval_hash(cfg: Mapping[str, Any], baseline: str | None = None) -> str:
    return config_hash(eval_key(cfg, baseline))
