"""dscodec/jobkeys.py: only settings that change a result change the hash the rules rerun on."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from dscodec import jobkeys
from dscodec.config import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper() -> dict:
    return load_config(REPO / "configs" / "default.yaml", REPO / "configs" / "paper.yaml")


def edited(cfg: dict, path: str, value) -> dict:
    out = copy.deepcopy(cfg)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value
    return out


@pytest.mark.parametrize("path, value", [("train.gpus", 1), ("train.num_workers", 0), ("train.threads", 3),
                                         ("train.compile", True), ("device", "cpu")])
def test_execution_settings_do_not_change_the_training_hash(paper: dict, path: str, value) -> None:
    changed = edited(paper, path, value)
    assert changed != paper  # the edit is real, so the equality below is not vacuous
    for stage in (1, 2):
        assert jobkeys.train_hash(changed, "ds_codec_vq", stage) == jobkeys.train_hash(paper, "ds_codec_vq", stage)


@pytest.mark.parametrize("path, value", [("train.precision", "fp32"), ("seed", 7), ("model.size", "small"),
                                         ("train.segment_seconds", 2.0), ("train.stage1.lr", 3e-4)])
def test_result_settings_change_the_training_hash(paper: dict, path: str, value) -> None:
    assert jobkeys.train_hash(edited(paper, path, value), "ds_codec_vq", 1) != jobkeys.train_hash(paper, "ds_codec_vq", 1)


@pytest.mark.parametrize("path, value", [("train.dead_code_reset", True),
                                         ("train.discriminator_overrides", {"stft_channels": 16})])
def test_the_settings_moved_out_of_model_overrides_change_both_training_hashes(paper: dict, path: str, value) -> None:
    changed = edited(paper, path, value)
    for stage in (1, 2):
        assert jobkeys.train_hash(changed, "ds_codec_vq", stage) != jobkeys.train_hash(paper, "ds_codec_vq", stage)


def test_the_moved_settings_are_hashed_where_they_were_so_the_move_reruns_nothing(paper: dict) -> None:
    """A config written as before the move (issue 13: under `model.overrides`) hashes as its
    equivalent now does: the key the training jobs had before is the key they have now."""
    legacy = copy.deepcopy(paper)
    train = legacy["train"]
    legacy["model"]["overrides"] = {"dead_code_reset": train.pop("dead_code_reset"), "stft_channels": 16}
    train.pop("discriminator_overrides")
    now = edited(paper, "train.discriminator_overrides", {"stft_channels": 16})
    before = {"seed": legacy["seed"], "model": legacy["model"],
              "train": {k: v for k, v in train.items()
                        if k not in ("stage1", "stage2", *jobkeys.TRAIN_EXECUTION_KEYS)},
              "stage": train["stage1"], "system": legacy["systems"]["ds_codec_vq"]}
    assert jobkeys.train_key(now, "ds_codec_vq", 1) == before


def test_a_stage2_edit_leaves_stage1_alone(paper: dict) -> None:
    changed = edited(paper, "train.stage2.lr", 1e-3)
    assert jobkeys.train_hash(changed, "ds_codec_vq", 1) == jobkeys.train_hash(paper, "ds_codec_vq", 1)
    assert jobkeys.train_hash(changed, "ds_codec_vq", 2) != jobkeys.train_hash(paper, "ds_codec_vq", 2)


@pytest.mark.parametrize("path, value", [("evaluation.workers", 2), ("evaluation.testsets", ["librispeech_test"]),
                                         ("evaluation.pitch_frame_cache", True)])
def test_execution_settings_do_not_change_the_evaluation_hash(paper: dict, path: str, value) -> None:
    changed = edited(paper, path, value)
    assert changed != paper
    assert jobkeys.eval_hash(changed) == jobkeys.eval_hash(paper)
    assert jobkeys.eval_hash(changed, "opus_6kbps") == jobkeys.eval_hash(paper, "opus_6kbps")


@pytest.mark.parametrize("path, value", [("evaluation.metrics", ["pesq_wb"]), ("evaluation.crepe_model", "tiny"),
                                         ("evaluation.max_utterances", 5), ("evaluation.subset_seed", 3)])
def test_scoring_settings_change_the_evaluation_hash(paper: dict, path: str, value) -> None:
    assert jobkeys.eval_hash(edited(paper, path, value)) != jobkeys.eval_hash(paper)


def test_a_baseline_job_depends_on_its_own_entry_only(paper: dict) -> None:
    changed = copy.deepcopy(paper)
    changed["evaluation"]["baselines"]["codec2_1200"]["mode"] = 700
    assert jobkeys.eval_hash(changed, "opus_6kbps") == jobkeys.eval_hash(paper, "opus_6kbps")
    assert jobkeys.eval_hash(changed, "codec2_1200") != jobkeys.eval_hash(paper, "codec2_1200")
    assert jobkeys.eval_hash(changed) == jobkeys.eval_hash(paper)  # DS-Codec and ground-truth jobs


# The presets' digest at each PRESETS_REVISION (dscodec/models/sizes.py). `model.size` is hashed by
# name, so an edited preset would leave every finished training "up to date" with the former
# architecture: this test makes the edit bump the revision, which changes the training hash.
# A change that leaves every preset's architecture as it was (a new field whose default is the former
# behaviour) may record its digest under the current revision instead; say so here.
PRESETS_DIGESTS = {1: "4076b3ec72afea9a"}   # 1 + `decoder_channels` (None = the mirror, as before)


def presets_digest() -> str:
    import dataclasses
    import hashlib
    import json

    from dscodec.models.discriminator_sizes import DISCRIMINATOR_PRESETS
    from dscodec.models.sizes import PRESETS

    data = {"generator": {k: dataclasses.asdict(v) for k, v in PRESETS.items()},
            "discriminator": {k: dataclasses.asdict(v) for k, v in DISCRIMINATOR_PRESETS.items()}}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=list).encode()).hexdigest()[:16]


def test_an_edited_preset_needs_a_new_presets_revision() -> None:
    from dscodec.models.sizes import PRESETS_REVISION

    assert PRESETS_DIGESTS.get(PRESETS_REVISION) == presets_digest(), (
        "a model or discriminator preset changed: bump PRESETS_REVISION in dscodec/models/sizes.py (so finished "
        f"trainings are redone) and record {presets_digest()!r} for it in PRESETS_DIGESTS (or, if no preset's "
        "architecture changed, record it under the current revision)")


def test_a_new_presets_revision_changes_the_training_hash(paper: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from dscodec.models import sizes
    from dscodec.train.loop import resume_fingerprint

    before = jobkeys.train_hash(paper, "ds_codec_vq", 1), resume_fingerprint(paper, "ds_codec_vq", 1, None)
    assert "presets_revision" not in jobkeys.train_key(paper, "ds_codec_vq", 1)["model"]   # revision 1: as before
    monkeypatch.setattr(sizes, "PRESETS_REVISION", 2)
    after = jobkeys.train_hash(paper, "ds_codec_vq", 1), resume_fingerprint(paper, "ds_codec_vq", 1, None)
    assert before[0] != after[0] and before[1] != after[1]
    # the BigCodec import rule hashes the same model section (workflow/rules/bigcodec.smk)
    assert jobkeys.hashed_model_and_train(paper)[0]["presets_revision"] == 2
