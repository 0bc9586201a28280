"""The results layout (dscodec/layout.py): the one place that says where files live under R."""
from __future__ import annotations

from pathlib import Path

import pytest

from dscodec import layout
from dscodec.config import default_config
from dscodec.errors import ConfigError
from dscodec.report import plan


def _cfg(results_dir: str = "r") -> dict:
    """The default config as written (no validation: it would import the model code)."""
    return {**default_config(), "results_dir": results_dir}


def test_paths_are_the_ones_the_rules_always_wrote() -> None:
    cfg = _cfg("res")
    assert layout.manifest(cfg, "librispeech_test") == "res/data/librispeech/test.tsv"
    assert layout.manifest(cfg, "ljspeech_eval") == "res/data/ljspeech/eval.tsv"
    assert layout.model_dir(cfg, "ds_codec_vq", 2) == "res/models/ds_codec_vq/stage2"
    assert layout.model_checkpoint(cfg, "ds_codec_vq", 1) == "res/models/ds_codec_vq/stage1/ckpt.pt"
    assert layout.bigcodec_checkpoint(cfg, "x") == "res/models/x/stage1-bigcodec/ckpt.pt"
    assert layout.eval_summary(cfg, "baseline-opus_6kbps", "ljspeech_eval") == \
        "res/eval/baseline-opus_6kbps/ljspeech_eval/summary.json"


def test_stage1_from_is_resolved_for_evaluation_and_stage2() -> None:
    cfg = _cfg("res")
    assert layout.stage1_source(cfg, "ds_codec_pq_2t") == "ds_codec_pq"
    assert layout.stage1_source(cfg, "ds_codec_pq") == "ds_codec_pq"
    assert layout.evaluated_checkpoint(cfg, "ds_codec_pq_2t", 1) == "res/models/ds_codec_pq/stage1/ckpt.pt"
    assert layout.evaluated_checkpoint(cfg, "ds_codec_pq_2t", "2") == "res/models/ds_codec_pq_2t/stage2/ckpt.pt"
    assert layout.stage2_start(cfg, "ds_codec_pq_2t") == "res/models/ds_codec_pq/stage1/ckpt.pt"
    assert "ds_codec_pq_2t" not in layout.own_stage1_systems(cfg)
    assert layout.own_stage1_systems(cfg) == plan.own_stage1(cfg["systems"])


def test_a_bigcodec_system_starts_stage2_from_the_converted_checkpoint() -> None:
    cfg = _cfg("res")
    cfg["systems"] = {**cfg["systems"], "ds_codec_vq": {**cfg["systems"]["ds_codec_vq"], "init_from_bigcodec": "b.pt"}}
    assert layout.stage2_start(cfg, "ds_codec_vq") == "res/models/ds_codec_vq/stage1-bigcodec/ckpt.pt"
    assert layout.bigcodec_systems(cfg) == ["ds_codec_vq"]
    assert "ds_codec_vq" not in layout.own_stage1_systems(cfg)


def test_every_entity_is_evaluated_once() -> None:
    cfg = _cfg()
    entities = layout.eval_entities(cfg)
    assert len(entities) == len(set(entities))
    assert layout.GROUND_TRUTH in entities
    assert {f"{s}-stage2" for s in cfg["systems"]} <= set(entities)
    assert {f"baseline-{b}" for b in cfg["evaluation"]["baselines"]} <= set(entities)


def test_an_unknown_test_set_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="librispeech_test"):
        layout.manifest(_cfg(), "nope")


def test_a_registered_test_set_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new test set is one TESTSETS entry: the manifest path, the report's eval inputs and the
    evaluated entities all follow from it."""
    monkeypatch.setitem(layout.TESTSETS, "fake_eval", layout.TestSet("fakecorpus", "eval.tsv"))
    cfg = _cfg("res")
    cfg["evaluation"] = {**cfg["evaluation"], "testsets": ["fake_eval"]}
    assert layout.manifest(cfg, "fake_eval") == "res/data/fakecorpus/eval.tsv"
    evals = plan.eval_inputs(cfg, "ablation_vq_vs_pq")
    assert evals and all(p.endswith("/fake_eval/summary.json") for p in evals)
    assert Path(evals[0]).parts[:2] == ("res", "eval")


def test_the_evaluate_command_and_the_runner_accept_a_registered_test_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from dscodec.commands import evaluate as evaluate_command

    monkeypatch.setitem(layout.TESTSETS, "fake_eval", layout.TestSet("fakecorpus", "eval.tsv"))
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    args = parser.parse_args(["--config", "c.yaml", "--testset", "fake_eval", "--out", "o", "--ground-truth"])
    assert args.testset == "fake_eval"
    pytest.importorskip("pandas")
    from dscodec.evaluate import testsets

    assert testsets.manifest_path(_cfg("res"), "fake_eval") == Path("res/data/fakecorpus/eval.tsv")
