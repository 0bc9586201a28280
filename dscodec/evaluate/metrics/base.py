"""The one interface every metric implements.

A metric is loaded once per job (models are expensive) and then scores utterance pairs.
Honesty rules (DEVELOPERS.md): a metric that cannot be loaded raises :class:`MetricUnavailable`
with the reason, and the runner writes *unavailable: <reason>* in its column; a metric that
fails on one utterance raises, and the runner counts the failure. Never return a default value.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

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

    def load(self) -> None:
        """Load models/libraries; raise MetricUnavailable(reason) if that is impossible here."""

    @property
    def model(self) -> str:
        """What computes the column (library/model and version), quoted in table footers."""
        return self.name

    @abstractmethod
    def score(self, ref: np.ndarray, deg: np.ndarray) -> dict[str, float]:
        """Scores for one utterance; ``ref`` and ``deg`` are already aligned and of equal length."""
