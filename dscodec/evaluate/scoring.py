"""Scoring aligned pairs: metrics loaded once per process, reference features from the cache,
and a pool of `evaluation.workers` processes beside the reconstruction.

Why a pool: reconstruction runs in the job's process (one model in memory) while the workers
score utterances in parallel. Each worker loads the metrics once (initializer) and keeps torch
to one thread, so two workers use two cores instead of fighting over them. Workers are
*spawned* (a forked child of a process that has run torch can deadlock in OpenMP), so a script
that calls the runner with workers > 1 needs the usual ``if __name__ == "__main__":`` guard.

Honesty: a metric whose load fails is unavailable with the reason; a metric that fails on an
utterance (in its reference-side step or its score) is a counted failure with the message.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from dscodec.evaluate.metrics.base import Metric, MetricUnavailable
from dscodec.evaluate.reference_cache import ReferenceCache, metric_key


@dataclass
class LoadedMetric:
    metric: Metric
    unavailable: str | None = None      # reason, when load() failed
    key: str | None = None              # reference-cache key of the loaded metric (metric_key)

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
            loaded.append(LoadedMetric(metric, key=metric_key(metric)))
        except MetricUnavailable as err:
            loaded.append(LoadedMetric(metric, str(err) or type(err).__name__))
        except Exception as err:  # noqa: BLE001 - shown in the table as the reason, not hidden
            loaded.append(LoadedMetric(metric, f"loading failed: {type(err).__name__}: {err}"))
    return loaded


@dataclass
class PairResult:
    """One utterance's scores, failures, and where the time went (per metric)."""

    index: int
    scores: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)        # metric -> error message
    seconds: dict[str, float] = field(default_factory=dict)       # metric -> s, reference step included
    reference_seconds: dict[str, float] = field(default_factory=dict)  # metric -> s in its reference step
    reference_cached: dict[str, bool] = field(default_factory=dict)    # metric -> features came from the cache


def score_pair(loaded: Sequence[LoadedMetric], ref: np.ndarray, deg: np.ndarray, *,
               utterance: str | None = None, cache: ReferenceCache | None = None, index: int = -1,
               text: str | None = None, whole: np.ndarray | None = None) -> PairResult:
    """Scores of one aligned pair from every available metric.

    A metric with a reference-side step gets its features from ``cache`` (computed and stored
    there when missing) and scores with ``ref_features=``; without a cache (or an utterance id)
    the metric computes them itself inside ``score``, which gives the same numbers. ``whole`` is the
    reference before alignment: when ``ref`` is a prefix of it (a delayed codec's crop), a metric
    that can derives ``ref``'s features from the cached whole reference's. A metric that
    ``needs_text`` (WER/CER) scores ``deg`` against ``text``, the manifest's transcript."""
    out = PairResult(index)
    for item in loaded:
        if item.unavailable is not None:
            continue
        metric = item.metric
        t0 = time.perf_counter()
        try:
            if metric.needs_text:
                result = metric.score_text(deg, text if text is not None else "")
            elif cache is not None and utterance is not None and metric.has_reference_features:
                features, hit = cache.features(metric, utterance, ref, item.key, whole=whole)
                out.reference_seconds[metric.name] = time.perf_counter() - t0
                out.reference_cached[metric.name] = hit
                result = metric.score(ref, deg, ref_features=features)
            else:
                result = metric.score(ref, deg)
            values = {col: float(result[col]) for col in metric.columns}  # KeyError: column missing
            bad = [col for col, v in values.items() if not math.isfinite(v)]
            if bad:
                raise ValueError(f"non-finite value for {', '.join(bad)}")
        except Exception as err:  # noqa: BLE001 - counted as a failure of this metric on this utterance
            out.failures[metric.name] = f"{type(err).__name__}: {err}"
            continue
        finally:
            out.seconds[metric.name] = time.perf_counter() - t0
        out.scores.update(values)
    return out


_WORKER_METRICS: list[LoadedMetric] = []
_WORKER_CACHE: ReferenceCache | None = None


def _init_worker(metrics: Sequence[Metric], cache: ReferenceCache | None = None) -> None:
    """Process-pool initializer: one torch thread, metrics loaded once for all utterances."""
    global _WORKER_METRICS, _WORKER_CACHE
    _single_thread()
    _WORKER_METRICS = load_metrics(metrics)
    _WORKER_CACHE = cache


def _worker_status() -> list[dict[str, Any]]:
    return [item.status() for item in _WORKER_METRICS]


def _worker_score(index: int, ref: np.ndarray, deg: np.ndarray, utterance: str | None,
                  text: str | None = None, whole: np.ndarray | None = None) -> PairResult:
    return score_pair(_WORKER_METRICS, ref, deg, utterance=utterance, cache=_WORKER_CACHE, index=index, text=text,
                      whole=whole)


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
    re-scoring what was pending; metric errors never reach here (score_pair counts them).
    `cache` (optional) holds the reference features shared across jobs (reference_cache.py)."""

    def __init__(self, metrics: Sequence[Metric], workers: int, log: Callable[[str], None],
                 cache: ReferenceCache | None = None) -> None:
        self.metrics = list(metrics)
        self.workers = max(1, int(workers))
        self.log = log
        self.cache = cache
        self.pool: cf.ProcessPoolExecutor | None = None
        self.inline: list[LoadedMetric] | None = None
        self.statuses: list[dict[str, Any]] = []
        self._status_future: cf.Future | None = None
        self.mode = "in-process"
        self.load_s = 0.0             # metric loading in this process (workers load in parallel)

    def start(self) -> None:
        if self.workers > 1 and self.metrics:
            try:
                with _env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"):
                    self.pool = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                       initializer=_init_worker, initargs=(self.metrics, self.cache))
                    self._status_future = self.pool.submit(_worker_status)
                self.mode = f"{self.workers} processes"
                return
            except Exception as err:  # noqa: BLE001 - fall back to one process, say why
                self._fallback(err)
                return
        self._go_inline()

    def _go_inline(self) -> None:
        if self.inline is None:
            t0 = time.perf_counter()
            self.inline = load_metrics(self.metrics)
            self.load_s += time.perf_counter() - t0
        self.mode = "in-process"

    def _fallback(self, err: BaseException) -> None:
        self.log(f"evaluate: worker processes unusable ({type(err).__name__}: {err}); scoring in this process")
        self._close_pool(wait=False)
        self._go_inline()

    def submit(self, index: int, ref: np.ndarray, deg: np.ndarray, utterance: str | None = None,
               text: str | None = None, whole: np.ndarray | None = None) -> cf.Future:
        if self.pool is not None:
            try:
                with _env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"):
                    return self.pool.submit(_worker_score, index, ref, deg, utterance, text, whole)
            except Exception as err:  # noqa: BLE001 - broken pool: go on in this process
                self._fallback(err)
        if self.inline is None:
            self._go_inline()
        future: cf.Future = cf.Future()
        assert self.inline is not None
        future.set_result(score_pair(self.inline, ref, deg, utterance=utterance, cache=self.cache, index=index,
                                     text=text, whole=whole))
        return future

    def result(self, future: cf.Future, index: int, ref: np.ndarray, deg: np.ndarray,
               utterance: str | None = None, text: str | None = None, whole: np.ndarray | None = None) -> PairResult:
        try:
            return future.result()
        except Exception as err:  # noqa: BLE001 - the pool failed, not a metric: re-score here
            if self.pool is not None:
                self._fallback(err)
            elif self.inline is None:
                raise
            return self.submit(index, ref, deg, utterance, text, whole).result()

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
