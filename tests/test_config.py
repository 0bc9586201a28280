"""The config layer: overlays merge onto default.yaml and any bad key fails naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dscodec.config import (
    ConfigError,
    config_hash,
    deep_merge,
    load_config,
    load_resolved,
    tracking_uri,
    write_if_changed,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["default", "ci", "paper"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg["data"]["sample_rate"] == 16000
    assert set(cfg["systems"]) >= {"ds_codec_vq", "ds_codec_pq"}


def test_paper_config_carries_the_papers_recipe() -> None:
    cfg = load_config(REPO / "configs" / "paper.yaml")
    s1, s2 = cfg["train"]["stage1"], cfg["train"]["stage2"]
    assert (s1["batch_size"], s1["lr"], s1["lr_min"], s1["warmup_steps"]) == (10, 1e-4, 1e-5, 1000)
    assert s1["betas"] == [0.8, 0.9]
    assert s1["adversarial_start_step"] == 0 and s2.get("adversarial_start_step", 0) == 0  # GAN from the start
    assert (s2["batch_size"], s2["lr"], s2["lr_min"]) == (24, 2e-5, 1e-5)
    assert cfg["data"]["librispeech"]["train_subsets"] == ["train-clean-100", "train-clean-360", "train-other-500"]
    assert cfg["data"]["ljspeech"]["eval_utterances"] == 2000
    assert cfg["model"]["size"] == "paper"


def test_overlay_merges_without_repeating_siblings() -> None:
    cfg = load_config(REPO / "configs" / "ci.yaml")
    assert cfg["train"]["stage1"]["steps"] == 6
    default = load_config(REPO / "configs" / "default.yaml")
    assert cfg["train"]["stage1"]["lr"] == default["train"]["stage1"]["lr"]  # inherited from default.yaml


def test_misspelled_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"train\.stage1.*stpes"):
        load_config(overrides={"train": {"stage1": {"stpes": 3}}})


def test_misspelled_model_override_fails_at_load_naming_key_and_fields() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"model": {"overrides": {"codebok_size": 512}}})
    msg = str(err.value)
    assert "model.overrides.codebok_size" in msg and "codebook_size" in msg and "latent_dim" in msg


def test_training_settings_under_model_overrides_fail_at_load_naming_their_new_place() -> None:
    for key, value, new in (("dead_code_reset", True, "train.dead_code_reset"),
                            ("stft_channels", 8, "train.discriminator_overrides.stft_channels")):
        with pytest.raises(ConfigError, match=f"model.overrides.{key}.*{new}"):
            load_config(overrides={"model": {"overrides": {key: value}}})


def test_discriminator_overrides_are_checked_at_load() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"train": {"discriminator_overrides": {"mpd_chanels": [4]}}})
    msg = str(err.value)
    assert "train.discriminator_overrides.mpd_chanels" in msg and "mpd_channels" in msg
    cfg = load_config(overrides={"train": {"discriminator_overrides": {"stft_channels": 16}}})
    assert cfg["train"]["discriminator_overrides"] == {"stft_channels": 16}
    assert load_config()["train"]["dead_code_reset"] is True
    assert load_config(REPO / "configs" / "paper.yaml")["train"]["dead_code_reset"] is False


def test_model_override_fields_come_from_the_model_size_dataclass() -> None:
    """The schema must not keep its own copy of ModelSize's fields: if it lists any, they must match."""
    import dataclasses

    from dscodec.config import load_schema
    from dscodec.models.sizes import ModelSize

    overrides = load_schema()["properties"]["model"]["properties"]["overrides"]
    listed = set(overrides.get("properties", {}))
    assert not listed or listed == {f.name for f in dataclasses.fields(ModelSize)}
    cfg = load_config(overrides={"model": {"overrides": {"codebook_size": 512}}})  # a real field still loads
    assert cfg["model"]["overrides"]["codebook_size"] == 512


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match=r"data\.sample_corpus\.minutes"):
        load_config(overrides={"data": {"sample_corpus": {"minutes": "lots"}}})


def test_an_unknown_test_set_fails_naming_it_and_the_known_ones() -> None:
    """Test-set names are checked against dscodec.layout.TESTSETS (no enum in the schema)."""
    from dscodec import layout

    with pytest.raises(ConfigError) as err:
        load_config(overrides={"evaluation": {"testsets": ["librispeech_test", "vctk_test"]}})
    message = str(err.value)
    assert "evaluation.testsets.1" in message and "'vctk_test'" in message
    assert all(name in message for name in layout.TESTSETS)
    with pytest.raises(ConfigError, match=r"evaluation\.testsets"):
        load_config(overrides={"evaluation": {"testsets": [3]}})  # the schema still wants strings


def test_a_test_set_registered_in_the_layout_is_a_valid_config_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """One layout entry (plus its reader) is all a new test set needs: the schema holds no list of names."""
    from dscodec import layout

    schema_text = (REPO / "dscodec" / "resources" / "config.schema.yaml").read_text()
    assert not any(name in schema_text for name in layout.TESTSETS)
    monkeypatch.setitem(layout.TESTSETS, "vctk_test", layout.TestSet("vctk", "test.tsv"))
    cfg = load_config(overrides={"evaluation": {"testsets": ["vctk_test"]}})
    assert cfg["evaluation"]["testsets"] == ["vctk_test"]


def test_unknown_stage1_from_is_rejected() -> None:
    bad = {"systems": {"x": {"quantizer": "vq", "stage1": "mirror", "stage2": "plain", "stage1_from": "nope"}}}
    with pytest.raises(ConfigError, match="stage1_from"):
        load_config(overrides=bad)


def test_stage1_from_must_share_architecture() -> None:
    bad = {"systems": {"x": {"quantizer": "vq", "stage1": "mirror", "stage2": "plain", "stage1_from": "ds_codec_pq"}}}
    with pytest.raises(ConfigError, match="different quantizer"):
        load_config(overrides=bad)


def test_null_drops_an_inherited_system() -> None:
    cfg = load_config(overrides={"systems": {"apcodec_plus_pq": None}})
    assert "apcodec_plus_pq" not in cfg["systems"]


def test_deep_merge_does_not_mutate_inputs() -> None:
    base = {"a": {"b": 1, "c": 2}}
    merged = deep_merge(base, {"a": {"b": 5}})
    assert merged == {"a": {"b": 5, "c": 2}} and base == {"a": {"b": 1, "c": 2}}


def test_resolved_config_round_trip_keeps_mtime(tmp_path: Path) -> None:
    cfg = load_config()
    path = write_if_changed(cfg, tmp_path / "config.yaml")
    mtime = path.stat().st_mtime_ns
    write_if_changed(cfg, path)
    assert path.stat().st_mtime_ns == mtime
    assert load_resolved(path) == yaml.safe_load(path.read_text())


def test_config_hash_tracks_content() -> None:
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_tracking_uri_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = load_config(overrides={"results_dir": str(tmp_path)})
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(cfg) == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///elsewhere")
    assert tracking_uri(cfg) == "file:///elsewhere"


def test_bad_yaml_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_a_store_set_for_one_config_does_not_leak_into_the_next(tmp_path, monkeypatch) -> None:
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; that must not override the next config."""
    from dscodec.config import use_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    a = load_config(overrides={"results_dir": str(tmp_path / "a")})
    b = load_config(overrides={"results_dir": str(tmp_path / "b")})
    assert use_tracking_uri(a).endswith("/a/mlflow/mlflow.db")
    assert use_tracking_uri(b).endswith("/b/mlflow/mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'user.db'}")
    assert use_tracking_uri(a).endswith("/user.db") and use_tracking_uri(b).endswith("/user.db")


def test_loading_a_config_imports_no_torch():
    """Every CLI command and every Snakemake parse validates the config; the model presets it reads
    must not pull in torch (~1.5 s), which a job that builds no model would otherwise pay."""
    import subprocess
    import sys

    code = ("import sys; from dscodec.config import load_config; from dscodec.models import get_size; "
            "load_config(); get_size('paper'); assert 'torch' not in sys.modules, 'torch was imported'; "
            "from dscodec.models import CodecModel; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
