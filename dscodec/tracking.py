"""MLflow helpers shared by training, evaluation and the report.

One MLflow experiment per config (`experiment`), one run per job (a (system, stage) for
training, a (system, testset) for evaluation). The default store is a local SQLite file,
`<results_dir>/mlflow/mlflow.db`, with artifacts beside it in `<results_dir>/mlflow/artifacts`
(`dscodec.config.tracking_uri`; `MLFLOW_TRACKING_URI` overrides it).

Why the locking: Snakemake runs several jobs at once and SQLite allows one writer. Two
processes that open a fresh store at the same moment race on creating its tables and the
experiment, and concurrent writers get "database is locked". For SQLite stores every
MLflow call therefore runs under an exclusive advisory lock on `<db>.lock` (fcntl; SQLite
on a network file system is unsafe anyway) and is retried with back-off when SQLite still
reports a lock (e.g. a reader such as `mlflow ui`). Other stores (a tracking server) are
called directly, with the same retries.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar
from urllib.parse import urlparse

from dscodec import layout
from dscodec.config import REPO_ROOT, use_tracking_uri
from dscodec.fileio import atomic_write_json
from dscodec.machine import machine_description

T = TypeVar("T")

MAX_ATTEMPTS = 40
MAX_PARAM_VALUE = 6000  # MLflow's limit on a parameter value
PARAMS_PER_BATCH = 100  # MLflow's limit on params per log_batch
_LOCK_MARKERS = ("database is locked", "database table is locked", "database schema is locked")


def sqlite_path(uri: str) -> Path | None:
    """Path of the SQLite database of a `sqlite:///...` URI, else None."""
    if not uri.startswith("sqlite:"):
        return None
    path = urlparse(uri).path
    # sqlite:////abs/path -> path '//abs/path'; sqlite:///rel -> '/rel' (relative to cwd)
    if uri.startswith("sqlite:////"):
        return Path(path[1:])
    return Path(path.lstrip("/"))


def _is_lock_error(err: BaseException) -> bool:
    text = str(err).lower()
    return any(marker in text for marker in _LOCK_MARKERS)


class _Store:
    """The store behind the current tracking URI: where its lock lives, and how to call it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        db = sqlite_path(uri)
        self.db = db
        self.lock_path = db.with_name(db.name + ".lock") if db is not None else None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        if self.lock_path is None:
            yield
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) under the store lock, retried while the database is locked."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.lock():
                    return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - only lock errors are retried, others re-raised
                if not _is_lock_error(err) or attempt == MAX_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.05 * 2**attempt, 2.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")


_current: _Store | None = None


def _store() -> _Store:
    import mlflow

    global _current
    uri = mlflow.get_tracking_uri()
    if _current is None or _current.uri != uri:
        _current = _Store(uri)
    return _current


def _artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside the database (not in ./mlruns of the cwd)."""
    db = sqlite_path(uri)
    return (db.resolve().parent / "artifacts").as_uri() if db is not None else None


# Experiment tags. MLflow 3 opens an experiment without `mlflow.experimentKind` on its GenAI
# overview (traces, token usage); this one is model training, so the UI opens on the runs.
# The description (`mlflow.note.content`) tells a reader the filters that give comparable runs.
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    "mlflow.note.content": (
        "DS-Codec reproduction. Compare training runs: filter `tags.job = 'train' and tags.stage = '1'`, "
        "group by tag `system`, Chart view (vq_loss, quant_mse, loss_mel). Evaluations: "
        "`tags.job = 'eval' and tags.status = 'ok'` (baselines that did not run carry tags.status = 'not_run'). "
        "One pipeline invocation: `tags.pipeline_run = '<id>'` (printed at the end of reproduce_tables)."),
}
PIPELINE_RUN_ENV = "DSCODEC_PIPELINE_RUN"


def ensure_experiment(name: str) -> str:
    """Experiment id of `name`, creating it (once, even under concurrent jobs) with EXPERIMENT_TAGS;
    an experiment made before these tags existed gets them the next time a job opens it."""
    from mlflow.tracking import MlflowClient

    store = _store()

    def get_or_create() -> str:
        client = MlflowClient()
        found = client.get_experiment_by_name(name)
        if found is None:
            return client.create_experiment(name, artifact_location=_artifact_location(store.uri),
                                            tags=EXPERIMENT_TAGS)
        for key, value in EXPERIMENT_TAGS.items():
            if found.tags.get(key) != value:
                client.set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id

    return store.call(get_or_create)


def pipeline_run_id() -> str:
    """Id shared by every job of one Snakemake invocation (the Snakefile sets $DSCODEC_PIPELINE_RUN
    before any job starts; jobs inherit it), so the MLflow UI can filter or group one invocation's runs.
    A job run by hand, outside Snakemake, is tagged "standalone"."""
    import os

    return os.environ.get(PIPELINE_RUN_ENV) or "standalone"


def new_pipeline_run_id() -> str:
    """A readable, unique id for a new invocation: UTC time plus 6 random hex digits."""
    import datetime
    import secrets

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"train.stage1.lr": "0.0001", ...}; lists and nulls as JSON."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            flat[name] = text[:MAX_PARAM_VALUE]
    return flat


def git_commit() -> str:
    """HEAD of the checkout the package runs from (+ "-dirty" with local changes).

    `reports/` is left out of the check: it holds the committed outputs of the default run,
    which that run itself rewrites, so counting it would mark every report it builds dirty.
    """
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"],
                               cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unavailable: not a git checkout"
    return head + ("-dirty" if dirty else "")


def standard_tags(config: Mapping[str, Any]) -> dict[str, str]:
    """Tags every run carries: corpus sources, model size, git commit, the pipeline invocation, the machine."""
    data = config["data"]
    corpus = ",".join(f"{name}:{data[name]['source']}" for name in ("librispeech", "ljspeech"))
    return {"corpus": corpus, "model_size": str(config["model"]["size"]), "git_commit": git_commit(),
            "pipeline_run": pipeline_run_id(), "machine": machine_description()}


@contextlib.contextmanager
def start_run(
    config: Mapping[str, Any],
    run_name: str,
    tags: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """Context manager: set the tracking URI and experiment, start (or resume `run_id`) a run.

    Yields the mlflow ActiveRun. Tags are `standard_tags(config)` plus `tags`. When
    `params` is given (a possibly nested mapping) it is flattened and logged. The run ends
    FINISHED, or FAILED when the block raises (also on KeyboardInterrupt); a resumed run
    keeps its params (MLflow refuses to change a logged value, so identical ones are skipped).
    """
    import mlflow

    use_tracking_uri(config)
    store = _store()
    experiment_id = ensure_experiment(str(config["experiment"]))
    all_tags = {**standard_tags(config), **{k: str(v) for k, v in (tags or {}).items()}}
    if run_id is not None:
        run = store.call(mlflow.start_run, run_id=run_id)
        set_tags(all_tags)
    else:
        run = store.call(mlflow.start_run, experiment_id=experiment_id, run_name=run_name, tags=all_tags)
        if params:
            log_params(params)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        store.call(mlflow.end_run, status=status)


def _active_run_id() -> str:
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("no active MLflow run: use dscodec.tracking.start_run")
    return run.info.run_id


def log_params(params: Mapping[str, Any]) -> None:
    """Log a (nested) mapping as flattened params, in batches MLflow accepts."""
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    flat = flatten(params)
    run_id = _active_run_id()
    items = [Param(k, v) for k, v in sorted(flat.items())]
    for i in range(0, len(items), PARAMS_PER_BATCH):
        _store().call(MlflowClient().log_batch, run_id, params=items[i : i + PARAMS_PER_BATCH])


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    import mlflow

    clean = {k: float(v) for k, v in metrics.items()}
    if clean:
        _store().call(mlflow.log_metrics, clean, step=step)


def set_tags(tags: Mapping[str, Any]) -> None:
    import mlflow

    _store().call(mlflow.set_tags, {k: str(v) for k, v in tags.items()})


def log_artifact(path: str | Path, artifact_path: str | None = None) -> None:
    import mlflow

    _store().call(mlflow.log_artifact, str(path), artifact_path)


def log_artifacts(folder: str | Path, artifact_path: str | None = None) -> None:
    import mlflow

    _store().call(mlflow.log_artifacts, str(folder), artifact_path)


# ------------------------------------------------------------------------------- resumed runs
def last_logged_steps(run_id: str) -> dict[str, int]:
    """Highest step logged so far for each metric of `run_id` (the active store).

    Why: a job killed after a checkpoint has already logged the steps between that checkpoint
    and the kill; the resumed job recomputes them and must not log them a second time."""
    from mlflow.tracking import MlflowClient

    store = _store()
    client = MlflowClient()
    keys = list(store.call(client.get_run, run_id).data.metrics)
    steps: dict[str, int] = {}
    for key in keys:
        history = store.call(client.get_metric_history, run_id, key)
        if history:
            steps[key] = max(int(m.step) for m in history)
    return steps


RUN_RECORD = "mlflow_run.json"


def read_run_record(folder: str | Path) -> str | None:
    """Run id of the last MLflow run a job opened for `folder` (None if none or unreadable).

    Why: a job killed by SIGKILL cannot end its run; the rerun finds the id here and resumes the
    run or closes it (close_dangling_run) instead of leaving it RUNNING for ever."""
    try:
        return str(json.loads((Path(folder) / RUN_RECORD).read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_run_record(folder: str | Path, run_id: str) -> None:
    atomic_write_json(Path(folder) / RUN_RECORD, {"run_id": run_id})


def close_dangling_run(run_id: str, replaced_by: str | None = None) -> bool:
    """Mark `run_id` KILLED if it is still RUNNING (its process was killed); True if it was.

    Why: a training job killed before its first checkpoint cannot resume its run (no
    checkpoint holds the weights its metrics describe); the rerun starts a new run, and the
    old one must not stay RUNNING for ever beside it. `replaced_by` is recorded as a tag."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    store = _store()
    client = MlflowClient()
    try:
        run = store.call(client.get_run, run_id)
    except MlflowException:
        return False  # not in this store (deleted, or another store): nothing to close
    if run.info.status != "RUNNING":
        return False
    if replaced_by:
        store.call(client.set_tag, run_id, "replaced_by", replaced_by)
    store.call(client.set_terminated, run_id, "KILLED")
    return True


# ------------------------------------------------------------------------------- evaluation runs
def find_train_run(cfg: Mapping[str, Any], system: str, stage: int) -> str | None:
    """Latest training run (FINISHED preferred) of the checkpoint an evaluation of (system, stage) uses,
    so the evaluation run can link to it (tag train_run_id)."""
    import mlflow

    source = layout.stage1_source(cfg, system) if stage == 1 and system in cfg["systems"] else system
    experiment = mlflow.get_experiment_by_name(str(cfg["experiment"]))
    if experiment is None:
        return None
    for attempt in range(5):
        try:
            runs = mlflow.search_runs(
                experiment_ids=[experiment.experiment_id],
                filter_string=f"tags.system = '{source}' and tags.stage = '{stage}' and tags.job = 'train'",
                order_by=["attributes.start_time DESC"], max_results=20)
            break
        except Exception as err:  # noqa: BLE001 - SQLite busy with a concurrent writer: retry
            if "locked" not in str(err).lower() or attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    if runs.empty:
        return None
    finished = runs[runs["status"] == "FINISHED"]
    return str((finished if not finished.empty else runs).iloc[0]["run_id"])


def log_eval_summary(out_dir: Path, summary: Mapping[str, Any], not_run: bool) -> None:
    """An evaluation job's summary in its (active) run: status, means, CIs, n, failures, unavailable reasons."""
    set_tags({"status": summary.get("status", "ok"), "label": summary.get("label", "")})
    if not_run:
        # the description shows in the run list and the run page: why this run has no scores
        reason = str(summary.get("reason", ""))[:5000]
        set_tags({"reason": reason, "mlflow.note.content": f"Not run (no scores): {reason}"})
    else:
        values: dict[str, float] = {"n_utterances": float(summary["n_utterances"])}
        for key in ("utterances_per_s", "elapsed_s"):
            if summary.get(key) is not None:
                values[key] = float(summary[key])
        info = summary.get("info") or {}
        for key in ("bitrate_kbps", "file_bitrate_kbps", "tokens_per_second"):
            if info.get(key) is not None:
                values[key] = float(info[key])
        for col, entry in (summary.get("metrics") or {}).items():
            if "unavailable" in entry:
                continue
            values[f"{col}_n"] = float(entry["n"])
            values[f"{col}_failures"] = float(entry["failures"])
            if entry.get("mean") is not None:
                values[col] = float(entry["mean"])
            if entry.get("ci95") is not None:
                values[f"{col}_ci95"] = float(entry["ci95"])
        log_metrics(values)
        unavailable = {col: e["unavailable"] for col, e in (summary.get("metrics") or {}).items() if "unavailable" in e}
        if unavailable:
            set_tags({f"unavailable.{col}": reason[:5000] for col, reason in unavailable.items()})
    log_artifact(out_dir / "summary.json")
    log_artifact(out_dir / "scores.parquet")
