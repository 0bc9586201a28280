"""The one interface every metric implements.

A metric is loaded once per job (models are expensive) and then scores utterance pairs.
Honesty rules (DEVELOPERS.md): a metric that cannot be loaded raises :class:`MetricUnavailable`
with the reason, and the runner writes *unavailable: <reason>* in its column; a metric that
fails on one utterance raises, and the runner counts the failure. Never return a default value.

Reference-side work (a pitch track or speaker embedding of the reference alone) is the same for
every system scored against that reference. A metric that has such work puts it in
:meth:`Metric.reference_features`; the runner then computes it once per test set, caches it
(dscodec/evaluate/reference_cache.py, keyed by :attr:`Metric.version` and :attr:`Metric.model`)
and passes it back as ``score(ref, deg, ref_features=...)``. ``score`` without features must
give the same numbers (it computes them itself), so the cache can never change a result.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from dscodec.errors import DSCodecError

SAMPLE_RATE = 16000


class MetricUnavailable(DSCodecError):
    """The metric's model or library cannot be loaded here; the message is the reason shown in reports."""


class Metric(ABC):
    """Scores a degraded utterance against its reference, both mono float32 at 16 kHz.

    ``intrusive`` metrics (PESQ, STOI, V/UV F1, speaker similarity) compare ``deg`` with ``ref``;
    non-intrusive ones (UTMOS, DNSMOS) look at ``deg`` only, so they can also score the references
    themselves (the paper's ground-truth row).
    """

    name: str = ""                      # registry name, e.g. "pesq_wb"
    columns: tuple[str, ...] = ()       # the score columns it writes, e.g. ("pesq_wb",)
    intrusive: bool = True
    higher_is_better: bool = True
    version: str = "1"                  # bump when the numbers (or reference features) change: invalidates caches
    has_reference_features: bool = False  # True: reference_features() does reference-only work worth caching
    derives_prefix_features: bool = False  # True: prefix_features() serves a reference's prefix from its features
    needs_text: bool = False            # True: scored by score_text(deg, transcript) instead of score (WER/CER)

    def load(self) -> None:
        """Load models/libraries; raise MetricUnavailable(reason) if that is impossible here."""

    @property
    def model(self) -> str:
        """What computes the column (library/model and version), quoted in table footers."""
        return self.name

    def reference_features(self, ref: np.ndarray) -> Any:
        """Work on the (aligned) reference alone, reusable across systems: numbers, arrays, or a flat
        mapping of them (stored as arrays). None = nothing to reuse. Raises like ``score`` on bad input."""
        return None

    def prefix_features(self, features: Any, prefix: np.ndarray) -> Any:
        """Features of ``prefix`` (the first samples of a reference) from that whole reference's
        :meth:`reference_features`, or None when they cannot be derived exactly (then computed).

        Why: a codec with a delay is scored against the reference cut to its own lag, a prefix of
        the reference every delay-free system shares; a metric that works frame by frame can serve
        the prefix from the whole reference's cached frames. The result must equal
        ``reference_features(prefix)`` exactly."""
        return None

    @abstractmethod
    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        """Scores for one utterance; ``ref`` and ``deg`` are already aligned and of equal length.
        ``ref_features``: what :meth:`reference_features` returned for this ``ref`` (else computed here)."""
