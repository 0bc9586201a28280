"""Small helpers shared by the metric plug-ins: input checks, fast offline detection, caches.

Why here and not in each plug-in: every model-based metric must (a) refuse bad input with a
clear :class:`MetricInputError` instead of a library traceback or, worse, a default value,
(b) find out in seconds that a download is impossible (no internet is a normal state for this
pipeline; the hub clients retry for half a minute or hang), and (c) stay picklable before and
after ``load()`` because the runner ships metrics to spawned worker processes.
"""
from __future__ import annotations

import contextlib
import sys
from importlib import metadata
from typing import Any, Iterator

import numpy as np

from dscodec.errors import DSCodecError
from dscodec.evaluate.metrics.base import SAMPLE_RATE


class MetricInputError(DSCodecError, ValueError):
    """A metric cannot score this utterance (empty, silent, too short, non-finite, undefined score).

    Raised from ``score()``; the runner counts it as a failure of that metric on that utterance."""


def check_signal(x: np.ndarray, what: str, min_samples: int = 1) -> np.ndarray:
    """``x`` as a 1-D float32 array at 16 kHz with at least ``min_samples`` finite samples."""
    arr = np.asarray(x)
    if arr.ndim > 1 and sum(d > 1 for d in arr.shape) <= 1:  # [1, T] or [T, 1]: still mono
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise MetricInputError(f"{what}: expected a mono 1-D signal, got shape {np.shape(x)}")
    if arr.size < min_samples:
        raise MetricInputError(f"{what}: {arr.size} samples, need at least {min_samples} "
                               f"({min_samples / SAMPLE_RATE * 1000:.0f} ms at {SAMPLE_RATE} Hz)")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise MetricInputError(f"{what}: contains NaN or Inf samples")
    return arr


def check_pair(ref: np.ndarray, deg: np.ndarray, min_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Both signals checked; equal length is required (the runner aligns before scoring)."""
    ref = check_signal(ref, "reference", min_samples)
    deg = check_signal(deg, "reconstruction", min_samples)
    if ref.size != deg.size:
        raise MetricInputError(f"reference and reconstruction differ in length ({ref.size} vs {deg.size} "
                               "samples); align them first (dscodec.evaluate.align)")
    return ref, deg


def is_silent(x: np.ndarray) -> bool:
    """Digital silence: every sample exactly zero."""
    return not np.any(x)


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def isolated_package(name: str) -> Iterator[None]:
    """Import a second, unrelated top-level package called ``name`` without clobbering the first.

    The torch.hub repo of UTMOS (tarepan/SpeechMOS) and the pip package that ships DNSMOS
    (`speechmos`) both define a top-level ``speechmos`` package; whichever is imported first
    would shadow the other in ``sys.modules`` for the rest of the worker process."""
    def owned() -> list[str]:
        return [k for k in sys.modules if k == name or k.startswith(name + ".")]

    saved = {k: sys.modules.pop(k) for k in owned()}
    try:
        yield
    finally:
        for k in owned():
            del sys.modules[k]
        sys.modules.update(saved)


class TransientState:
    """Mixin: attributes named in ``_transient`` (loaded models) are dropped when pickled.

    The runner pickles metrics into spawned workers; each worker calls ``load()`` itself, so a
    model never travels between processes (and a model whose classes come from a torch.hub
    directory could not be pickled anyway)."""

    _transient: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in self._transient:
            if key in state:
                state[key] = None
        return state
