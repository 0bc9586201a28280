"""STOI (Taal et al., 2011) via `pystoi`, classic (not extended) as in the Vocos protocol (paper Sec. 3.2).

pystoi resamples to 10 kHz, drops silent frames (40 dB dynamic range) and needs 30 frames
(384 ms) of speech afterwards. When there are fewer it *warns and returns 1e-5*; that would be a
fabricated score, so that warning is turned into a :class:`MetricInputError` here.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

from dscodec.evaluate.metrics._common import MetricInputError, check_pair, is_silent, package_version
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable

_NOT_ENOUGH_FRAMES = "Not enough STFT frames"   # start of pystoi's warning before it returns 1e-5


class Stoi(Metric):
    """Short-time objective intelligibility in [0, 1] (higher is better)."""

    name = "stoi"
    columns = ("stoi",)

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        self.eval_cfg = dict(eval_cfg or {})

    def load(self) -> None:
        try:
            import pystoi  # noqa: F401
        except ImportError as err:
            raise MetricUnavailable(f"the `pystoi` package cannot be imported ({err})") from err

    @property
    def model(self) -> str:
        return f"STOI (pystoi {package_version('pystoi')}, extended=False)"

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        from pystoi import stoi

        ref, deg = check_pair(ref, deg)
        if is_silent(ref):
            raise MetricInputError("STOI: the reference is digital silence (no speech frames to compare)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = stoi(ref.astype(np.float64), deg.astype(np.float64), SAMPLE_RATE, extended=False)
        for warning in caught:
            if str(warning.message).startswith(_NOT_ENOUGH_FRAMES):
                raise MetricInputError("STOI: fewer than 30 frames (384 ms) of speech remain after pystoi "
                                       "removes silent frames; the score is undefined")
        return {"stoi": float(value)}
