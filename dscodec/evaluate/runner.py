"""One evaluation job: a system (or baseline, or the references) on one test set (paper Sec. 3.2).

    draw the utterances (at most evaluation.max_utterances, seeded and stratified over speakers:
    subset.py) -> reconstruct each -> save it as FLAC -> align with the reference -> score with
    every configured metric -> scores.parquet (one row per utterance) + summary.json
    (mean, 95% CI, n, failures per column) -> one MLflow run linked to the training run.

Honesty rules: a metric that cannot be loaded is *unavailable: <reason>* in the summary and
its columns stay empty (NaN) in scores.parquet; a metric (or a reconstruction) that fails on
an utterance is counted as a failure with its message, never replaced by a default value;
a baseline whose weights are absent gets a summary with status "not_run" and the reason.

Speed: reconstruction runs in this process (one model in memory) while `evaluation.workers`
processes score utterances in parallel. Each worker loads the metrics once (initializer) and
keeps torch to one thread, so two workers use two cores instead of fighting over them.
Workers are *spawned* (a forked child of a process that has run torch can deadlock in
OpenMP), so a script that calls `evaluate` with workers > 1 needs the usual
`if __name__ == "__main__":` guard; the `dscodec` command has it.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from dscodec.config import config_hash, results_path
from dscodec.errors import ConfigError, DSCodecError
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, Reconstructor
from dscodec.evaluate.metrics.base import Metric, MetricUnavailable

TESTSETS: dict[str, tuple[str, str]] = {
    "librispeech_test": ("librispeech", "test.tsv"),
    "ljspeech_eval": ("ljspeech", "eval.tsv"),
}
KINDS = ("dscodec", "baseline", "ground_truth")

BASE_COLUMNS = ["id", "speaker", "duration_s", "delay_samples", "delay_method"]
MAX_FAILURE_MESSAGES = 5
MAX_SHIFT = 1600            # 100 ms at 16 kHz: the largest delay searched for a codec that declares none
RECONSTRUCT_CHUNK = 8       # utterances handed to a reconstructor that batches (equal lengths only)
NOT_APPLICABLE_TO_REFERENCES = ("not applicable to the references: an intrusive metric would compare "
                                "each reference with itself")


class EvaluationError(DSCodecError):
    """An evaluation job cannot produce a result (e.g. every utterance failed to reconstruct)."""


# ------------------------------------------------------------------------------- test sets
def manifest_path(cfg: Mapping[str, Any], testset: str) -> Path:
    """librispeech_test -> R/data/librispeech/test.tsv, ljspeech_eval -> R/data/ljspeech/eval.tsv."""
    if testset not in TESTSETS:
        raise ConfigError(f"unknown test set {testset!r}; known: {', '.join(TESTSETS)}")
    return results_path(cfg, "data", *TESTSETS[testset])


def load_testset(path: str | Path, max_utterances: int | None, seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The utterances to score (at most `max_utterances`, drawn with `seed` and stratified over
    speakers, sorted by speaker and id: dscodec/evaluate/subset.py) and summary["subset"]."""
    from dscodec.data.manifest import read_manifest
    from dscodec.evaluate import subset

    frame = read_manifest(path)
    rows = subset.draw(frame, max_utterances, seed)
    return rows, subset.describe(rows, len(frame), max_utterances, seed)


def subset_seed(cfg: Mapping[str, Any]) -> int:
    """`evaluation.subset_seed`, or the config's `seed` in a config written before that key existed."""
    value = cfg["evaluation"].get("subset_seed")
    return int(cfg.get("seed", 0) if value is None else value)


# ------------------------------------------------------------------------------- statistics
def mean_ci95(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and half-width of its 95% Student-t interval; (None, None) without values, CI None for n=1."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None, None
    mean = float(x.mean())
    if x.size < 2:
        return mean, None
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, float(stats.t.ppf(0.975, x.size - 1) * sem)


# ------------------------------------------------------------------------------- metrics (any process)
@dataclass
class LoadedMetric:
    metric: Metric
    unavailable: str | None = None      # reason, when load() failed

    def status(self) -> dict[str, Any]:
        model = None
        if self.unavailable is None:
            try:
                model = str(self.metric.model)
            except Exception as err:  # noqa: BLE001 - a description must not sink the job
                model = f"{self.metric.name} (model description failed: {err})"
        return {"name": self.metric.name, "columns": list(self.metric.columns), "model": model,
                "unavailable": self.unavailable}


def load_metrics(metrics: Sequence[Metric]) -> list[LoadedMetric]:
    """Load each metric; MetricUnavailable (or any other load error) marks it unavailable with the reason."""
    loaded = []
    for metric in metrics:
        try:
            metric.load()
            loaded.append(LoadedMetric(metric))
        except MetricUnavailable as err:
            loaded.append(LoadedMetric(metric, str(err) or type(err).__name__))
        except Exception as err:  # noqa: BLE001 - shown in the table as the reason, not hidden
            loaded.append(LoadedMetric(metric, f"loading failed: {type(err).__name__}: {err}"))
    return loaded


def score_pair(loaded: Sequence[LoadedMetric], ref: np.ndarray, deg: np.ndarray
               ) -> tuple[dict[str, float], dict[str, str]]:
    """Scores of one aligned pair from every available metric, and {metric: error message} for failures."""
    scores: dict[str, float] = {}
    failures: dict[str, str] = {}
    for item in loaded:
        if item.unavailable is not None:
            continue
        metric = item.metric
        try:
            result = metric.score(ref, deg)
            values = {col: float(result[col]) for col in metric.columns}  # KeyError: column missing
            bad = [col for col, v in values.items() if not math.isfinite(v)]
            if bad:
                raise ValueError(f"non-finite value for {', '.join(bad)}")
        except Exception as err:  # noqa: BLE001 - counted as a failure of this metric on this utterance
            failures[metric.name] = f"{type(err).__name__}: {err}"
            continue
        scores.update(values)
    return scores, failures


_WORKER_METRICS: list[LoadedMetric] = []


def _init_worker(metrics: Sequence[Metric]) -> None:
    """Process-pool initializer: one torch thread, metrics loaded once for all utterances."""
    global _WORKER_METRICS
    _single_thread()
    _WORKER_METRICS = load_metrics(metrics)


def _worker_status() -> list[dict[str, Any]]:
    return [item.status() for item in _WORKER_METRICS]


def _worker_score(index: int, ref: np.ndarray, deg: np.ndarray) -> tuple[int, dict[str, float], dict[str, str]]:
    scores, failures = score_pair(_WORKER_METRICS, ref, deg)
    return index, scores, failures


def _single_thread() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Environment for spawned workers (OpenMP/MKL read it before torch is imported there)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Scorer:
    """Scores aligned pairs in `workers` processes, or in this process when workers == 1.

    The pool starts in the background (spawning a worker imports torch and loads the metrics,
    seconds that overlap with reconstruction). Anything that goes wrong with the pool itself
    (a metric that cannot be pickled, a worker killed) falls back to scoring in this process,
    re-scoring what was pending; metric errors never reach here (score_pair counts them)."""

    def __init__(self, metrics: Sequence[Metric], workers: int, log: Callable[[str], None]) -> None:
        self.metrics = list(metrics)
        self.workers = max(1, int(workers))
        self.log = log
        self.pool: cf.ProcessPoolExecutor | None = None
        self.inline: list[LoadedMetric] | None = None
        self.statuses: list[dict[str, Any]] = []
        self._status_future: cf.Future | None = None
        self.mode = "in-process"

    def start(self) -> None:
        if self.workers > 1 and self.metrics:
            try:
                with _env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"):
                    self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                       initializer=_init_worker, initargs=(self.metrics,))
                    self._status_future = self.pool.submit(_worker_status)
                self.mode = f"{self.workers} processes"
                return
            except Exception as err:  # noqa: BLE001 - fall back to one process, say why
                self._fallback(err)
                return
        self._go_inline()

    def _go_inline(self) -> None:
        if self.inline is None:
            self.inline = load_metrics(self.metrics)
        self.mode = "in-process"

    def _fallback(self, err: BaseException) -> None:
        self.log(f"evaluate: worker processes unusable ({type(err).__name__}: {err}); scoring in this process")
        self._close_pool(wait=False)
        self._go_inline()

    def submit(self, index: int, ref: np.ndarray, deg: np.ndarray) -> cf.Future:
        if self.pool is not None:
            try:
                with _env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"):
                    return self.pool.submit(_worker_score, index, ref, deg)
            except Exception as err:  # noqa: BLE001 - broken pool: go on in this process
                self._fallback(err)
        if self.inline is None:
            self._go_inline()
        future: cf.Future = cf.Future()
        assert self.inline is not None
        scores, failures = score_pair(self.inline, ref, deg)
        future.set_result((index, scores, failures))
        return future

    def result(self, future: cf.Future, index: int, ref: np.ndarray, deg: np.ndarray
               ) -> tuple[int, dict[str, float], dict[str, str]]:
        try:
            return future.result()
        except Exception as err:  # noqa: BLE001 - the pool failed, not a metric: re-score here
            if self.pool is not None:
                self._fallback(err)
            elif self.inline is None:
                raise
            return self.submit(index, ref, deg).result()

    def finish(self) -> list[dict[str, Any]]:
        """Close the pool; the metrics' load status (from a worker, or from this process)."""
        if self._status_future is not None and self.pool is not None:
            try:
                self.statuses = self._status_future.result()
            except Exception as err:  # noqa: BLE001
                self._fallback(err)
        self._close_pool(wait=True)
        if self.inline is not None and (not self.statuses or self.mode == "in-process"):
            # every score came from (or after falling back to) this process's metrics
            self.statuses = [item.status() for item in self.inline]
        return self.statuses

    def _close_pool(self, wait: bool) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=wait, cancel_futures=True)
            self.pool = None

    def close(self) -> None:
        self._close_pool(wait=True)


# ------------------------------------------------------------------------------- the job
@dataclass
class _Tally:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # metric -> (row, "id: message")
    reconstruction_failures: list[str] = field(default_factory=list)


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    tmp.replace(path)


def _write_outputs(out_dir: Path, scores: pd.DataFrame, summary: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / "scores.parquet", lambda p: scores.to_parquet(p, index=False))
    _write_atomic(out_dir / "summary.json", lambda p: p.write_text(json.dumps(summary, indent=2, default=str) + "\n"))


def _empty_scores(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame["id"] = frame["id"].astype(str)
    frame["speaker"] = frame["speaker"].astype(str)
    frame["delay_samples"] = frame["delay_samples"].astype("Int64")
    frame["delay_method"] = frame["delay_method"].astype(object)
    return frame


def _info_dict(reconstructor: Reconstructor, kind: str) -> dict[str, Any]:
    """Table 1's descriptive columns. Where the reconstructor measured what it spent (DS-Codec:
    .dsc files; classical codecs: their packets) `bitrate_kbps` is that measurement over the test
    set, else the nominal rate; `bitrate_source` says which."""
    info = reconstructor.info
    out: dict[str, Any] = {"bitrate_kbps": info.bitrate_kbps, "tokens_per_second": info.tokens_per_second,
                           "n_codebooks": info.n_codebooks, "native_sample_rate": info.native_sample_rate,
                           "settings": info.settings}
    measured = getattr(reconstructor, "measured_bitrate_kbps", None)
    if kind == "ground_truth":
        out["bitrate_source"] = "none (references)"
    elif measured is not None:
        out["bitrate_kbps"] = float(measured)
        out["bitrate_source"] = ("measured: .dsc token payload bits / audio seconds over the test set"
                                 if kind == "dscodec" else "measured: codec payload bits / audio seconds over the test set")
        out["nominal_bitrate_kbps"] = getattr(reconstructor, "nominal_bitrate_kbps", info.bitrate_kbps)
        out["file_bitrate_kbps"] = getattr(reconstructor, "measured_file_bitrate_kbps", None)
    else:
        out["bitrate_source"] = "nominal"
    return out


def _provenance(cfg: Mapping[str, Any], reconstructor: Reconstructor, kind: str, stage: int | None) -> dict[str, Any]:
    from dscodec.tracking import git_commit

    data = cfg["data"]
    prov: dict[str, Any] = {
        "corpus_sources": {name: data[name]["source"] for name in ("librispeech", "ljspeech")},
        "git_commit": git_commit(),
        "config_hash": config_hash(dict(cfg)),
        "evaluation_config_hash": config_hash(cfg["evaluation"]),
        "max_utterances": cfg["evaluation"].get("max_utterances"),
        "subset_seed": subset_seed(cfg),
    }
    if kind == "dscodec":
        meta = dict(getattr(reconstructor, "metadata", {}) or {})
        prov["model_size"] = meta.get("model_size") or cfg["model"]["size"]
        prov["checkpoint"] = meta.get("checkpoint")
        prov["training_steps"] = {"checkpoint_step": meta.get("step"),
                                  "configured_steps": cfg["train"][f"stage{stage}"]["steps"] if stage else None}
        prov["num_parameters"] = meta.get("num_parameters")
    extra = getattr(reconstructor, "provenance", None)
    if isinstance(extra, Mapping):
        prov["reconstructor"] = dict(extra)
    return prov


def _metric_entries(statuses: list[dict[str, Any]], skipped: dict[str, str], scores: pd.DataFrame,
                    tally: _Tally, higher: dict[str, bool]) -> dict[str, dict[str, Any]]:
    """summary["metrics"]: per score column either the statistics or {"unavailable": reason}."""
    entries: dict[str, dict[str, Any]] = {}
    for status in statuses:
        name = status["name"]
        reason = skipped.get(name) or status["unavailable"]
        for col in status["columns"]:
            if reason is not None:
                entries[col] = {"metric": name, "unavailable": reason}
                continue
            values = pd.to_numeric(scores[col], errors="coerce").to_numpy(dtype=float) if col in scores else []
            values = np.asarray(values)[np.isfinite(values)] if len(values) else np.asarray([])
            mean, ci95 = mean_ci95(values)
            messages = [m for _, m in sorted(tally.failures.get(name, []))]  # manifest order
            entries[col] = {"metric": name, "model": status["model"], "mean": mean, "ci95": ci95,
                            "n": int(values.size), "failures": len(messages),
                            "failure_messages": messages[:MAX_FAILURE_MESSAGES],
                            "higher_is_better": higher.get(name, True)}
    return entries


@dataclass(frozen=True)
class Aligner:
    """Delay compensation of one job. Baselines may add a codec delay: it is estimated within
    `window` (around the codec's declared `nominal` delay, else [0, MAX_SHIFT]: a causal codec's
    output cannot precede its input), phase-blind first, sample-exact where the waveform allows
    (dscodec/evaluate/align.py). DS-Codec and the references are delay-free by construction
    (`window` None): only trimmed to a common length, delay 0, method "trim"."""

    window: tuple[int, int] | None
    nominal: int | None = None

    def __call__(self, ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, str]:
        """(ref_aligned, deg_aligned, delay_samples, method); AlignmentError when the best lag is off the window."""
        from dscodec.evaluate.align import estimate, match_length, shift

        if self.window is None:
            ref_a, deg_a = match_length(ref, deg)
            return ref_a, deg_a, 0, "trim"
        found = estimate(ref, deg, self.window, default=self.nominal)
        ref_a, deg_a = shift(ref, deg, found.lag)
        return ref_a, deg_a, found.lag, found.method

    def describe(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """summary["alignment"]: the window searched and the lags used (per utterance: scores.parquet)."""
        delays = [int(r["delay_samples"]) for r in rows if r.get("delay_samples") is not None]
        methods: dict[str, int] = {}
        for r in rows:
            if r.get("delay_method"):
                methods[r["delay_method"]] = methods.get(r["delay_method"], 0) + 1
        return {"window": list(self.window) if self.window else None, "nominal_delay_samples": self.nominal,
                "methods": methods,
                "delay_samples": ({"min": min(delays), "median": float(np.median(delays)), "max": max(delays)}
                                  if delays else None)}


def make_aligner(kind: str, reconstructor: Reconstructor) -> Aligner:
    """The aligner for a (loaded) reconstructor; imports align once per job, so a missing module
    stops the job instead of failing every utterance."""
    from dscodec.evaluate.align import search_window

    if kind != "baseline":
        return Aligner(None)
    try:
        nominal = reconstructor.info.nominal_delay_samples
    except Exception:  # noqa: BLE001 - a reconstructor that cannot describe itself declares nothing
        nominal = None
    return Aligner(search_window(nominal, MAX_SHIFT), nominal)


def _reconstruct_chunk(reconstructor: Reconstructor, wavs: list[np.ndarray]) -> list[np.ndarray | BaseException]:
    """Batched when the reconstructor can (DS-Codec), else one by one; errors stay per utterance."""
    many = getattr(reconstructor, "reconstruct_many", None)
    if many is not None and len(wavs) > 1:
        try:
            return list(many(wavs))
        except Exception:  # noqa: BLE001 - retry one by one, so one bad utterance fails alone
            pass
    out: list[np.ndarray | BaseException] = []
    for wav in wavs:
        try:
            out.append(np.asarray(reconstructor.reconstruct(wav), dtype=np.float32).reshape(-1))
        except Exception as err:  # noqa: BLE001 - counted as a reconstruction failure
            out.append(err)
    return out


def evaluate(
    cfg: Mapping[str, Any],
    reconstructor: Reconstructor,
    testset: str,
    out_dir: str | Path,
    *,
    system: str,
    stage: int | None = None,
    kind: str,
    metrics: Sequence[Metric] | None = None,
    workers: int | None = None,
    manifest: str | Path | None = None,
    log_mlflow: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run one evaluation job; returns the summary written to out_dir/summary.json.

    `system` names the entity (a system, a baseline, or "ground-truth"); `kind` is one of
    "dscodec", "baseline", "ground_truth". `metrics` defaults to `evaluation.metrics` built
    from the registry; `workers` to `evaluation.workers`; `manifest` to the test set's manifest.
    """
    if kind not in KINDS:
        raise ConfigError(f"evaluate: kind must be one of {KINDS}, got {kind!r}")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    eval_cfg = cfg["evaluation"]
    out_dir = Path(out_dir)
    manifest = Path(manifest) if manifest is not None else manifest_path(cfg, testset)
    if metrics is None:
        from dscodec.evaluate.metrics import build_metrics

        metrics = build_metrics(list(eval_cfg["metrics"]), eval_cfg)
    workers = int(workers or eval_cfg.get("workers", 1))
    rows, drawn = load_testset(manifest, eval_cfg.get("max_utterances"), subset_seed(cfg))
    metric_columns = [col for m in metrics for col in m.columns]
    columns = BASE_COLUMNS + metric_columns
    base: dict[str, Any] = {"system": system, "stage": stage, "kind": kind, "testset": testset,
                            "manifest": str(manifest.resolve()), "subset": drawn}
    tags = {"job": "eval", "system": system, "stage": "none" if stage is None else str(stage),
            "testset": testset, "kind": kind}

    with contextlib.ExitStack() as stack:
        run = None
        if log_mlflow:
            from dscodec import tracking

            name = f"eval-{system}" + (f"-stage{stage}" if stage else "") + f"-{testset}"
            params = {"evaluation": dict(eval_cfg), "testset": testset, "manifest": base["manifest"]}
            run = stack.enter_context(tracking.start_run(cfg, name, tags, params=params))
            train_run = find_train_run(cfg, system, stage) if kind == "dscodec" and stage else None
            if train_run:
                tracking.set_tags({"train_run_id": train_run})
                base["train_run_id"] = train_run
        try:
            reconstructor.load()
        except BaselineUnavailable as err:
            summary = {**base, "status": "not_run", "reason": str(err), "label": _safe_label(reconstructor, system),
                       "info": _safe_info(reconstructor, kind), "n_utterances": 0, "metrics": {},
                       "provenance": _provenance(cfg, reconstructor, kind, stage)}
            if run is not None:
                summary["mlflow_run_id"] = run.info.run_id
            _write_outputs(out_dir, _empty_scores(columns), summary)
            log(f"evaluate {system} on {testset}: not run: {err}")
            if run is not None:
                _log_to_mlflow(out_dir, summary, not_run=True)
            return summary

        summary = _run_job(cfg, reconstructor, rows, out_dir, kind, list(metrics), workers, columns, base,
                           stage, log)
        if run is not None:
            summary["mlflow_run_id"] = run.info.run_id
        _write_outputs(out_dir, _scores_frame(summary.pop("_rows"), columns), summary)
        if run is not None:
            _log_to_mlflow(out_dir, summary, not_run=False)
    return summary


def _safe_label(reconstructor: Reconstructor, fallback: str) -> str:
    try:
        return reconstructor.info.label
    except Exception:  # noqa: BLE001 - an unloaded baseline may not know its label
        return getattr(reconstructor, "label", None) or fallback


def _safe_info(reconstructor: Reconstructor, kind: str) -> dict[str, Any]:
    try:
        return _info_dict(reconstructor, kind)
    except Exception:  # noqa: BLE001 - nothing to describe without weights
        return {}


def _scores_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return _empty_scores(columns)
    frame = pd.DataFrame.from_records(rows)
    for col in columns:
        if col not in frame:
            frame[col] = np.nan
    frame = frame[columns]
    frame["delay_samples"] = frame["delay_samples"].astype("Int64")
    return frame


def _run_job(cfg: Mapping[str, Any], reconstructor: Reconstructor, rows: pd.DataFrame, out_dir: Path, kind: str,
             metrics: list[Metric], workers: int, columns: list[str], base: dict[str, Any], stage: int | None,
             log: Callable[[str], None]) -> dict[str, Any]:
    from dscodec.audio import load_audio, save_audio

    # The references are the "reconstruction" of the ground-truth row: intrusive metrics would only
    # compare a signal with itself, so (as in the paper's tables) they are not computed for it.
    skipped = {m.name: NOT_APPLICABLE_TO_REFERENCES for m in metrics if kind == "ground_truth" and m.intrusive}
    to_score = [m for m in metrics if m.name not in skipped]
    aligner = make_aligner(kind, reconstructor)
    scorer = Scorer(to_score, workers, log)
    audio_dir = out_dir / "audio"
    save = kind != "ground_truth"   # the references already lie on disk
    if audio_dir.exists():
        shutil.rmtree(audio_dir)    # no stale files from an earlier run of this job
    if save:
        audio_dir.mkdir(parents=True, exist_ok=True)
    tally = _Tally()
    pending: dict[cf.Future, tuple[int, np.ndarray, np.ndarray]] = {}
    n_total = len(rows)
    start = time.perf_counter()
    reconstruct_s = 0.0
    done = 0
    last_print = start
    chunk = RECONSTRUCT_CHUNK if hasattr(reconstructor, "reconstruct_many") else 1
    label = _safe_label(reconstructor, base["system"])

    def collect(future: cf.Future) -> None:
        nonlocal done
        index, ref, deg = pending.pop(future)
        _, scores, failures = scorer.result(future, index, ref, deg)
        tally.rows[index].update(scores)
        for name, message in failures.items():
            tally.failures.setdefault(name, []).append((index, f"{tally.rows[index]['id']}: {message}"))
        done += 1

    def progress(force: bool = False) -> None:
        nonlocal last_print
        now = time.perf_counter()
        if force or now - last_print >= 10.0:
            rate = done / max(now - start, 1e-9)
            log(f"evaluate {base['system']} on {base['testset']}: {done}/{n_total} utterances scored, "
                f"{rate:.2f} utterances/s ({scorer.mode})")
            last_print = now

    scorer.start()
    try:
        records = rows.to_dict("records")
        for first in range(0, n_total, chunk):
            batch = records[first: first + chunk]
            refs: list[np.ndarray | BaseException] = []
            for row in batch:
                try:
                    refs.append(load_audio(row["path"], SAMPLE_RATE)[0].numpy())
                except Exception as err:  # noqa: BLE001 - a reference that cannot be read fails alone
                    refs.append(err)
            good = [i for i, r in enumerate(refs) if not isinstance(r, BaseException)]
            t0 = time.perf_counter()
            recon = _reconstruct_chunk(reconstructor, [refs[i] for i in good]) if good else []  # type: ignore[misc]
            reconstruct_s += time.perf_counter() - t0
            degs: dict[int, np.ndarray | BaseException] = dict(zip(good, recon))
            for offset, row in enumerate(batch):
                index = first + offset
                ref = refs[offset]
                record: dict[str, Any] = {"id": str(row["id"]), "speaker": str(row["speaker"]),
                                          "duration_s": None, "delay_samples": None, "delay_method": None}
                tally.rows[index] = record
                if not isinstance(ref, BaseException):
                    record["duration_s"] = ref.size / SAMPLE_RATE
                problem = ref if isinstance(ref, BaseException) else degs.get(offset)
                if isinstance(problem, BaseException):
                    where = "reading the reference" if isinstance(ref, BaseException) else "reconstruction"
                    _fail_all(tally, to_score, index, f"{where} failed: {type(problem).__name__}: {problem}")
                    done += 1
                    continue
                assert isinstance(ref, np.ndarray)
                deg = np.asarray(degs[offset], dtype=np.float32).reshape(-1)
                if deg.size == 0 or not np.isfinite(deg).all():
                    _fail_all(tally, to_score, index, "reconstruction failed: empty or non-finite output")
                    done += 1
                    continue
                if save:
                    save_audio(audio_dir / f"{record['id']}.flac", deg, SAMPLE_RATE)
                try:
                    ref_a, deg_a, delay, method = aligner(ref, deg)
                except Exception as err:  # noqa: BLE001 - counted, never scored at a lag known to be wrong
                    _fail_all(tally, to_score, index, f"alignment failed: {type(err).__name__}: {err}")
                    done += 1
                    continue
                record["delay_samples"], record["delay_method"] = delay, method
                future = scorer.submit(index, ref_a, deg_a)
                pending[future] = (index, ref_a, deg_a)
                while len(pending) >= 2 * scorer.workers + 2:
                    finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                    for f in finished:
                        collect(f)
                progress()
        for future in list(pending):
            collect(future)
        statuses = scorer.finish()
    finally:
        scorer.close()
    elapsed = time.perf_counter() - start
    progress(force=True)
    if n_total and len(tally.reconstruction_failures) == n_total:
        # not a result but a broken set-up (tool crashing, wrong model): stop the job, loudly
        raise EvaluationError(f"{base['system']} on {base['testset']}: every utterance failed; first: "
                              + "; ".join(tally.reconstruction_failures[:3]))

    ordered = [tally.rows[i] for i in sorted(tally.rows)]
    frame = _scores_frame(ordered, columns)
    higher = {m.name: bool(m.higher_is_better) for m in metrics}
    statuses = statuses + [{"name": m.name, "columns": list(m.columns), "model": None, "unavailable": None}
                           for m in metrics if m.name in skipped]
    order = {m.name: i for i, m in enumerate(metrics)}
    statuses.sort(key=lambda s: order[s["name"]])
    summary: dict[str, Any] = {
        **base,
        "status": "ok",
        "label": label,
        "n_utterances": n_total,
        "info": _info_dict(reconstructor, kind),
        "metrics": _metric_entries(statuses, skipped, frame, tally, higher),
        "alignment": aligner.describe(ordered),
        "reconstruction_failures": len(tally.reconstruction_failures),
        "reconstruction_failure_messages": tally.reconstruction_failures[:MAX_FAILURE_MESSAGES],
        "utterances_per_s": n_total / elapsed if elapsed > 0 else None,
        "elapsed_s": elapsed,
        "reconstruct_s": reconstruct_s,
        "workers": scorer.workers,
        "scoring": scorer.mode,
        "audio_dir": str(audio_dir) if save else None,
        "provenance": _provenance(cfg, reconstructor, kind, stage),
        "_rows": ordered,
    }
    return summary


def _fail_all(tally: _Tally, metrics: Sequence[Metric], index: int, message: str) -> None:
    text = f"{tally.rows[index]['id']}: {message}"
    tally.reconstruction_failures.append(text)
    for metric in metrics:
        tally.failures.setdefault(metric.name, []).append((index, text))


# ------------------------------------------------------------------------------- MLflow
def find_train_run(cfg: Mapping[str, Any], system: str, stage: int) -> str | None:
    """Latest training run (FINISHED preferred) of the checkpoint this (system, stage) evaluates."""
    import mlflow

    source = (cfg["systems"].get(system, {}).get("stage1_from") or system) if stage == 1 else system
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


def _log_to_mlflow(out_dir: Path, summary: Mapping[str, Any], not_run: bool) -> None:
    from dscodec import tracking

    tracking.set_tags({"status": summary.get("status", "ok"), "label": summary.get("label", "")})
    if not_run:
        tracking.set_tags({"reason": str(summary.get("reason", ""))[:5000]})
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
        tracking.log_metrics(values)
        unavailable = {col: e["unavailable"] for col, e in (summary.get("metrics") or {}).items() if "unavailable" in e}
        if unavailable:
            tracking.set_tags({f"unavailable.{col}": reason[:5000] for col, reason in unavailable.items()})
    tracking.log_artifact(out_dir / "summary.json")
    tracking.log_artifact(out_dir / "scores.parquet")
