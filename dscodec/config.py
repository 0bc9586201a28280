"""Configuration: YAML overlays merged onto the packaged default config, validated by one JSON schema.

Why overlays: the default config (dscodec/resources/default.yaml, shown to readers as
configs/default.yaml) is the single complete description of a run, so ci.yaml and paper.yaml
only state what differs, and a reader sees every difference at a glance. The same schema and
the same merge (`load_config`) serve the Snakefile and every CLI command, so a misspelled key
fails at once, naming the key, and an overlay means the same thing wherever the run starts.
Both files are package data: an installed wheel validates without the repository.
"""
from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from dscodec.errors import ConfigError
from dscodec.fileio import atomic_write_text, sha256_bytes

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # a git checkout in editable installs (tracking.git_commit); never read for config
# Package data (MANIFEST.in, with include-package-data), so a non-editable install has them too.
SCHEMA_RESOURCE = "config.schema.yaml"
DEFAULT_CONFIG_RESOURCE = "default.yaml"
DEFAULT_CONFIG_SOURCE = "dscodec/resources/default.yaml"  # how error messages name the packaged default


def resource_text(name: str) -> str:
    """Text of a file in dscodec/resources, read through importlib.resources (works from a wheel or zip)."""
    return resources.files("dscodec.resources").joinpath(name).read_text(encoding="utf-8")


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `overlay` onto `base` recursively (mappings merge, everything else replaces).

    `systems` and `evaluation.baselines` are mappings too, so an overlay can add a system
    without repeating the others; `{}` clears nothing (use `null` to drop a system).
    """
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if value is None and isinstance(merged.get(key), Mapping):
            del merged[key]  # `name: null` drops an inherited system or baseline
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    return parse_yaml(path.read_text(), str(path))


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A config's YAML text as a mapping; ConfigError naming `source` otherwise."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config must be a mapping at the top level")
    return data


def load_schema() -> dict[str, Any]:
    return yaml.safe_load(resource_text(SCHEMA_RESOURCE))


def default_config() -> dict[str, Any]:
    """The packaged default config: the one set of defaults (code reads keys, it does not default them)."""
    return parse_yaml(resource_text(DEFAULT_CONFIG_RESOURCE), DEFAULT_CONFIG_SOURCE)


def validate(config: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Validate against the schema; raise ConfigError naming the offending key path."""
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: invalid configuration:"]
        for err in errors:
            where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
            lines.append(f"  - at `{where}`: {err.message}")
        raise ConfigError("\n".join(lines))
    _check_testsets(config, source)
    _check_cross_references(config, source)
    _check_model_overrides(config, source)
    _check_mel_windows(config, source)
    return dict(config)


def _check_testsets(config: Mapping[str, Any], source: str) -> None:
    """Test-set names come from the results layout (dscodec.layout.TESTSETS), not a schema enum, so
    registering a test set there (plus its reader) is all it takes for a config to name it."""
    from dscodec import layout

    for index, name in enumerate(config["evaluation"]["testsets"]):
        try:
            layout.testset(name)  # the one check: ConfigError naming the known test sets
        except ConfigError as err:
            raise ConfigError(f"{source}: invalid configuration:\n  - at `evaluation.testsets.{index}`: {err}") from err


def _check_mel_windows(config: Mapping[str, Any], source: str) -> None:
    """`train.mel_windows` must name scales of the mel loss (dscodec.losses.MEL_WINDOWS, the one list)."""
    if "mel_windows" not in config["train"]:
        return
    from dscodec.losses import mel_scales

    try:
        mel_scales(config["train"]["mel_windows"])
    except ValueError as err:
        raise ConfigError(f"{source}: invalid configuration:\n  - at `train.mel_windows`: {err}") from err


def _check_model_overrides(config: Mapping[str, Any], source: str) -> None:
    """Build the size presets now, so a misspelled `model.overrides` or `train.discriminator_overrides`
    key fails at load, not in a training job.

    The known fields are those of dscodec.models.sizes.ModelSize and of
    dscodec.models.discriminator_sizes.DiscriminatorSize (the one source of truth each); the schema
    leaves both mappings open for that reason.
    """
    from dscodec.models.discriminator_sizes import discriminator_size
    from dscodec.models.sizes import get_size

    model = config["model"]
    try:
        get_size(model["size"], model.get("overrides"))
        discriminator_size(config)
    except ConfigError as err:
        raise ConfigError(f"{source}: invalid configuration: {err}") from err


def _check_cross_references(config: Mapping[str, Any], source: str) -> None:
    systems = config["systems"]
    for name, system in systems.items():
        parent = system.get("stage1_from")
        if parent is None:
            continue
        if parent not in systems:
            raise ConfigError(f"{source}: `systems.{name}.stage1_from` names unknown system {parent!r}")
        if systems[parent]["quantizer"] != system["quantizer"] or systems[parent]["stage1"] != system["stage1"]:
            raise ConfigError(
                f"{source}: `systems.{name}.stage1_from` = {parent!r} has a different quantizer or stage-1 "
                "architecture, so its stage-1 checkpoint cannot be shared"
            )
    _check_bigcodec_init(config, source)
    stage = config["train"]
    for key in ("stage1", "stage2"):
        if stage[key]["lr_min"] > stage[key]["lr"]:
            raise ConfigError(f"{source}: `train.{key}.lr_min` must not exceed `train.{key}.lr`")


def _check_bigcodec_init(config: Mapping[str, Any], source: str) -> None:
    """`init_from_bigcodec` fits only a mirrored VQ system with BigCodec's anti-aliased activations."""
    from dscodec.models.sizes import get_size

    for name, system in config["systems"].items():
        if not system.get("init_from_bigcodec"):
            continue
        key = f"`systems.{name}.init_from_bigcodec`"
        if system["quantizer"] != "vq" or system["stage1"] != "mirror" or system.get("stage1_from"):
            raise ConfigError(f"{source}: {key} needs `quantizer: vq`, `stage1: mirror` and no `stage1_from` "
                              "(BigCodec's weights are a mirrored single-codebook VQ codec)")
        if not get_size(config["model"]["size"], config["model"].get("overrides")).anti_aliased_activations:
            raise ConfigError(f"{source}: {key} needs BigCodec's anti-aliased activations: use `model.size: paper` "
                              "or set `model.overrides.anti_aliased_activations: true`")


def load_config(*paths: str | Path | None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Load the packaged default, merge each overlay in order, then `overrides`, and validate.

    A None path is no overlay (`load_config(args.config)` with no --config gives the default).

    The Snakefile calls this too (with --configfile and --config), so `name: null` drops a
    system the same way in both. An overlay that is the default itself (configs/default.yaml,
    a byte-identical copy) is skipped wherever it comes in the list, so it never resets an
    earlier overlay.
    """
    default_text = resource_text(DEFAULT_CONFIG_RESOURCE)
    config = parse_yaml(default_text, DEFAULT_CONFIG_SOURCE)
    sources = [DEFAULT_CONFIG_SOURCE]
    for path in paths:
        if path is None or (Path(path).is_file() and Path(path).read_text() == default_text):
            continue
        config = deep_merge(config, read_yaml(path))
        sources.append(str(path))
    if overrides:
        config = deep_merge(config, overrides)
        sources.append("overrides")
    return validate(config, source=" + ".join(sources))


def load_resolved(path: str | Path) -> dict[str, Any]:
    """Read a resolved config (as written by the Snakefile) and validate it again."""
    return validate(read_yaml(path), source=str(path))


def config_hash(section: Any) -> str:
    """Stable short hash of a config section, used as a Snakemake rerun trigger."""
    blob = json.dumps(section, sort_keys=True, default=str).encode()
    return sha256_bytes(blob)[:16]


def write_if_changed(config: Mapping[str, Any], path: str | Path) -> Path:
    """Write the resolved config, keeping the file (and its mtime) when nothing changed."""
    path = Path(path)
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)
    return path


def results_path(config: Mapping[str, Any], *parts: str) -> Path:
    return Path(config["results_dir"], *parts)


def use_tracking_uri(config: Mapping[str, Any]) -> str:
    """Point mlflow at this config's store (and remember that the exported env var is ours)."""
    import os

    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    uri = tracking_uri(config)
    user_override = before is not None and before == uri and before not in _URIS_SET_HERE
    mlflow.set_tracking_uri(uri)
    if not user_override:
        _URIS_SET_HERE.add(uri)
    return uri


def reports_path(config: Mapping[str, Any], *parts: str) -> Path:
    """Where reports go: `reports_dir`, or <results_dir>/reports when it is null (CI, paper runs)."""
    root = config.get("reports_dir") or Path(config["results_dir"], "reports")
    return Path(root, *parts)


# URIs this process handed to mlflow.set_tracking_uri, which also exports MLFLOW_TRACKING_URI:
# such a value is ours, not the user's override, and must not leak into the next config's store.
_URIS_SET_HERE: set[str] = set()


def tracking_uri(config: Mapping[str, Any]) -> str:
    """MLflow tracking URI: $MLFLOW_TRACKING_URI, else the config's, else a local SQLite store."""
    import os

    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env and env not in _URIS_SET_HERE:
        return env
    if config["mlflow"].get("tracking_uri"):
        return str(config["mlflow"]["tracking_uri"])
    db = (Path(config["results_dir"]) / "mlflow" / "mlflow.db").resolve()
    return f"sqlite:///{db}"
