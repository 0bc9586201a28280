"""The config's default and schema are package data (issue 13 item 3): an installed wheel validates
a config without the repository, and the reader-facing configs/default.yaml cannot drift from the
packaged source. No network, no build: importlib.resources and pyproject.toml say what ships."""
from __future__ import annotations

import fnmatch
from importlib import resources
from pathlib import Path

import pytest
import yaml

from dscodec.config import (
    DEFAULT_CONFIG_RESOURCE,
    SCHEMA_RESOURCE,
    ConfigError,
    default_config,
    load_config,
    load_schema,
    validate,
)

REPO = Path(__file__).resolve().parents[1]


def test_schema_and_default_are_read_through_importlib_resources() -> None:
    files = resources.files("dscodec.resources")
    for name in (SCHEMA_RESOURCE, DEFAULT_CONFIG_RESOURCE):
        assert files.joinpath(name).is_file(), name
        assert not (REPO / "dscodec" / "resources" / name).is_symlink(), f"{name} must be a real file in the wheel"
    assert load_schema()["type"] == "object"
    assert default_config()["systems"]


def test_they_are_declared_as_package_data() -> None:
    """What setuptools puts in the wheel: each file config loading reads matches a package-data
    pattern of pyproject.toml or an `include` line of MANIFEST.in (include-package-data is on)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools.get("include-package-data", True)
    patterns = [f"dscodec/{p}" for p in setuptools["package-data"]["dscodec"]]
    manifest = REPO / "MANIFEST.in"
    if manifest.is_file():
        for line in manifest.read_text().splitlines():
            words = line.split()
            if words and words[0] == "include":
                patterns += words[1:]
    for name in (SCHEMA_RESOURCE, DEFAULT_CONFIG_RESOURCE):
        assert any(fnmatch.fnmatch(f"dscodec/resources/{name}", p) for p in patterns), (name, patterns)
    assert (REPO / "dscodec" / "resources" / "__init__.py").is_file()
    assert (REPO / "dscodec" / "report" / "__init__.py").is_file()


def test_configs_default_is_the_packaged_default_byte_for_byte() -> None:
    """Two files, one content: the packaged file is the source, configs/default.yaml its copy for readers."""
    packaged = resources.files("dscodec.resources").joinpath(DEFAULT_CONFIG_RESOURCE).read_text(encoding="utf-8")
    assert (REPO / "configs" / "default.yaml").read_text(encoding="utf-8") == packaged, (
        "configs/default.yaml and dscodec/resources/default.yaml differ: edit both")


def test_no_configfile_and_configs_default_load_the_same() -> None:
    assert load_config() == load_config(None) == load_config(REPO / "configs" / "default.yaml")


def test_configs_default_after_an_overlay_does_not_reset_it() -> None:
    """configs/default.yaml is the default itself, skipped wherever it comes (as before it moved)."""
    ci = load_config(REPO / "configs" / "ci.yaml")
    assert load_config(REPO / "configs" / "ci.yaml", REPO / "configs" / "default.yaml") == ci


def test_packaged_default_is_complete_for_the_schema() -> None:
    """Every key the schema requires is in the default, so code never needs a fallback value."""
    default = yaml.safe_load((REPO / "dscodec" / "resources" / DEFAULT_CONFIG_RESOURCE).read_text())
    assert set(load_schema()["required"]) <= set(default)


@pytest.mark.parametrize("path", [
    "train.stage1.val_utterances", "train.stage2.val_utterances", "train.stage1.betas", "train.stage2.weight_decay",
    "train.stage1.grad_clip", "train.stage2.max_nonfinite_in_a_row", "train.threads", "train.num_workers",
    "train.gpus", "train.precision", "train.compile", "train.loss_reduction", "train.loss_weights.mel",
    "evaluation.workers", "report.smooth_window", "report.listen_utterances", "data.ljspeech.eval_utterances",
    "data.ljspeech.eval_seed", "seed", "device"])
def test_keys_read_without_a_fallback_in_code_are_required(path: str) -> None:
    """Code reads these keys directly (no second default in code), so the schema must require them."""
    cfg = default_config()
    *parents, key = path.split(".")
    section = cfg
    for name in parents:
        section = section[name]
    del section[key]
    with pytest.raises(ConfigError, match=key):
        validate(cfg)
