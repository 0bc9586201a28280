"""Reference features computed once per test set and reused by every evaluation job (issue 11).

Why: the pitch track behind V/UV F1 and the speaker embedding of a *reference* utterance are
the same for every system scored against it, yet each of the ~15 jobs per test set recomputed
them. A metric that has such reference-only work returns it from
``Metric.reference_features(ref)``; this cache stores it on disk under
``<results_dir>/eval/_reference/<testset>/<metric>-<key>/<utterance>-<audio sha>.npz``.

What a stored entry is keyed by, so that nothing stale is ever reused:

* the metric: its ``name``, ``version`` (bumped when its numbers change) and ``model``
  description (e.g. CREPE capacity and torchcrepe version, the speaker encoder and its weights'
  version) -> the folder ``<metric>-<key>``;
* the utterance: its id and the SHA-256 of the exact reference samples that are scored (after
  alignment), so a changed audio file, or a baseline whose alignment crops the reference
  differently, gets its own entry -> the file name.

A delayed codec's reference is the whole reference cut at the codec's lag: a metric that works
frame by frame (V/UV F1) derives the cut reference's features from the whole reference's entry
(``Metric.prefix_features``, exact) instead of computing and storing an entry per lag.

Each file carries that key and a SHA-256 of its arrays; one that does not match (corrupt,
truncated, written by other code) is recomputed and replaced, never trusted. Writes go to a
unique temporary file that is then renamed over the target (atomic on POSIX), so two jobs
(Snakemake runs two side by side) may compute the same entry at once: both write identical
content and whichever rename comes last wins; a reader sees a whole file or none. No job has to
run first: any job computes what is missing and the others reuse it.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from dscodec.evaluate.metrics.base import Metric
from dscodec.fileio import atomic_write, sha256_bytes, sha256_chunks

log = logging.getLogger(__name__)

FORMAT = 1   # layout of the .npz files written here


def metric_key(metric: Metric) -> str:
    """Identity of a (loaded) metric's reference features: name, version and model description."""
    try:
        model = str(metric.model)
    except Exception as err:  # noqa: BLE001 - a key that matches nothing beats a crash
        model = f"unknown ({type(err).__name__})"
    text = json.dumps({"format": FORMAT, "name": metric.name, "version": str(metric.version), "model": model},
                      sort_keys=True)
    return sha256_bytes(text.encode())[:16]


def audio_digest(ref: np.ndarray) -> str:
    """SHA-256 of the reference samples exactly as scored (float32, C order)."""
    return sha256_bytes(np.ascontiguousarray(ref, dtype=np.float32).tobytes())


def is_strict_prefix(part: np.ndarray, whole: np.ndarray) -> bool:
    """``part`` equals the first samples of a longer ``whole`` (as float32, the scored samples)."""
    part = np.asarray(part, dtype=np.float32).reshape(-1)
    whole = np.asarray(whole, dtype=np.float32).reshape(-1)
    return 0 < part.size < whole.size and np.array_equal(whole[: part.size], part)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:100] or "_"


def _pack(features: Any) -> dict[str, np.ndarray]:
    """Features as named arrays: an array, a number, or a flat mapping of those."""
    if isinstance(features, Mapping):
        items = dict(features)
    else:
        items = {"value": features}
    out = {}
    for name, value in items.items():
        if not isinstance(name, str) or name.startswith("__"):
            raise TypeError(f"reference feature names must be plain strings, got {name!r}")
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"reference feature {name!r} is not numeric ({type(value).__name__})")
        out[name] = arr
    return out


def _unpack(arrays: Mapping[str, np.ndarray], mapping: bool) -> Any:
    return dict(arrays) if mapping else arrays["value"]


def _checksum(arrays: Mapping[str, np.ndarray]) -> str:
    def parts() -> Iterator[bytes]:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            yield name.encode() + b"\0" + str(arr.dtype).encode() + b"\0" + repr(arr.shape).encode()
            yield arr.tobytes()

    return sha256_chunks(parts())


def load_entry(path: Path, key: str, digest: str, what: str) -> Any | None:
    """A stored entry (arrays, or a mapping of them) when its key, input digest and checksum match;
    None when absent or not trustworthy (corrupt, truncated, written by other code): recompute."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            arrays = {name: data[name] for name in data.files if not name.startswith("__")}
        if meta.get("key") != key or meta.get("audio_sha256") != digest or meta.get("checksum") != _checksum(arrays):
            raise ValueError("key or checksum mismatch")
        return _unpack(arrays, bool(meta["mapping"]))
    except Exception as err:  # noqa: BLE001 - corrupt/foreign file: recompute, never trust it
        log.warning("%s: ignoring %s (%s: %s); recomputing", what, path, type(err).__name__, err)
        return None


def store_entry(path: Path, key: str, digest: str, features: Any, what: str) -> None:
    """Write atomically (a unique temporary file renamed over the target); a failed write only
    costs the reuse, so it is logged, not raised."""
    arrays = _pack(features)
    meta = {"key": key, "audio_sha256": digest, "checksum": _checksum(arrays),
            "mapping": isinstance(features, Mapping)}
    try:
        atomic_write(path, lambda fh: np.savez(fh, __meta__=np.asarray(json.dumps(meta)), **arrays))
    except OSError as err:
        log.warning("%s: cannot write %s (%s)", what, path, err)


@dataclass(frozen=True)
class ReferenceCache:
    """Reference features of one test set on disk (picklable: it travels to scoring workers)."""

    root: Path

    def path(self, metric: Metric, utterance: str, digest: str, key: str | None = None) -> Path:
        return self.root / f"{_safe(metric.name)}-{key or metric_key(metric)}" / f"{_safe(utterance)}-{digest[:16]}.npz"

    def load(self, path: Path, key: str, digest: str) -> Any | None:
        """The stored features, or None when absent or not trustworthy (then recomputed)."""
        return load_entry(path, key, digest, "reference cache")

    def store(self, path: Path, key: str, digest: str, features: Any) -> None:
        """Write atomically (unique temporary file, then rename); a failed write only costs the reuse."""
        store_entry(path, key, digest, features, "reference cache")

    def features(self, metric: Metric, utterance: str, ref: np.ndarray, key: str | None = None, *,
                 whole: np.ndarray | None = None) -> tuple[Any, bool]:
        """(features of ``ref`` for ``metric``, whether they came from the cache).

        ``whole``: the reference ``ref`` was cut from. When ``ref`` is a strict prefix of it (a
        delayed codec's alignment crop) and the metric ``derives_prefix_features``, the features
        are derived from the whole reference's entry (the one every delay-free system uses;
        computed and stored first if missing) and not stored themselves; "from the cache" then
        means the whole reference's entry was. Errors of ``metric.reference_features`` propagate
        (the caller counts a failure); nothing is stored for them."""
        key = key or metric_key(metric)
        if whole is not None and metric.derives_prefix_features and is_strict_prefix(ref, whole):
            whole_features, hit = self.features(metric, utterance, whole, key)
            derived = metric.prefix_features(whole_features, ref) if whole_features is not None else None
            if derived is not None:
                return derived, hit
        digest = audio_digest(ref)
        path = self.path(metric, utterance, digest, key)
        cached = self.load(path, key, digest)
        if cached is not None:
            return cached, True
        features = metric.reference_features(ref)
        if features is not None:
            self.store(path, key, digest, features)
        return features, False
