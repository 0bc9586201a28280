"""PESQ (ITU-T P.862) at 16 kHz, wide-band (P.862.2) and narrow-band, via the `pesq` package.

Paper Sec. 3.2 reports PESQ following the Vocos protocol: wide-band at 16 kHz is the number
codec papers compare (DAC, WavTokenizer, BigCodec tables); narrow-band is reported beside it
because some older tables use it. The `pesq` package wraps the ITU reference C code.

PESQ is undefined when the P.862 utterance detector finds no speech (digital silence, a
reconstruction that is all zeros): the library raises and so do we, so the runner counts a
failure instead of writing a made-up score.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from dscodec.evaluate.metrics._common import MetricInputError, check_pair, is_silent, package_version
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable

# P.862 needs at least 1/4 s of signal (BufferTooShortError below that).
MIN_SAMPLES = SAMPLE_RATE // 4


class _Pesq(Metric):
    mode: str = "wb"
    standard: str = ""

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        self.eval_cfg = dict(eval_cfg or {})

    def load(self) -> None:
        try:
            import pesq  # noqa: F401
        except ImportError as err:  # the column says why, instead of every utterance failing
            raise MetricUnavailable(f"the `pesq` package cannot be imported ({err})") from err

    @property
    def model(self) -> str:
        return f"{self.standard} (pesq {package_version('pesq')}, {SAMPLE_RATE // 1000} kHz)"

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        from pesq import pesq

        ref, deg = check_pair(ref, deg, MIN_SAMPLES)
        for signal, what in ((ref, "reference"), (deg, "reconstruction")):
            if is_silent(signal):  # the library divides by the peak and fails with a NaN cast
                raise MetricInputError(f"PESQ ({self.mode}): the {what} is digital silence")
        try:
            value = pesq(SAMPLE_RATE, ref, deg, self.mode)
        except Exception as err:  # PesqError (NoUtterances, BufferTooShort) or ValueError from the C code
            message = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
            raise MetricInputError(f"PESQ ({self.mode}): {type(err).__name__}: {message}") from err
        return {self.columns[0]: float(value)}


class PesqWideband(_Pesq):
    """Wide-band PESQ, ITU-T P.862.2 (MOS-LQO, about 1.04-4.64)."""

    name = "pesq_wb"
    columns = ("pesq_wb",)
    mode = "wb"
    standard = "PESQ wide-band, ITU-T P.862.2"


class PesqNarrowband(_Pesq):
    """Narrow-band PESQ, ITU-T P.862 with the P.862.1 MOS-LQO mapping (about 1.02-4.55)."""

    name = "pesq_nb"
    columns = ("pesq_nb",)
    mode = "nb"
    standard = "PESQ narrow-band, ITU-T P.862/P.862.1"
