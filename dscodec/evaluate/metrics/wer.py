"""WER and CER: an ASR transcript of the signal against the manifest's text (issue 11, item 5).

Why: intelligibility is what a TTS user of a codec cares about most, and codec papers report
WER next to UTMOS/PESQ/STOI. The metric is non-intrusive (it reads the signal and the text, not
the reference audio), so the ground-truth row is scored too: with a weak recogniser
(PocketSphinx on synthetic voices) the ground truth's own WER is the floor to read every other
row against. Both texts go through :func:`dscodec.evaluate.textnorm.normalize_text`; the rates
are ``jiwer``'s, per utterance: WER over words, CER over the characters of the normalised
strings (single spaces between words count as characters).

Per utterance: an empty reference text (after normalisation) cannot be scored and raises
:class:`MetricInputError`, a counted failure; an empty transcript is a legitimate result, every
reference word deleted, WER = CER = 1.0.

It needs the transcript, which :meth:`Metric.score` does not receive: the runner calls
:meth:`Wer.score_text` (or :meth:`Wer.transcribe` + :meth:`Wer.error_rates`, to keep the
hypothesis) with the manifest row's ``text``. There is no reference-side work to cache: the
reference audio is not used, and the ground-truth row is scored like any other row.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from dscodec.evaluate.asr import Transcriber, load_transcriber
from dscodec.evaluate.metrics._common import MetricInputError, TransientState
from dscodec.evaluate.metrics.base import Metric, MetricUnavailable
from dscodec.evaluate.textnorm import normalize_text


def error_rates(reference: str, hypothesis: str) -> dict[str, float]:
    """WER and CER of ``hypothesis`` against ``reference``, both normalised here."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        raise MetricInputError(f"WER: the reference text is empty after normalisation ({reference!r}); "
                               "the manifest has no transcript for this utterance")
    if not hyp:  # all deletions; stated here rather than left to the jiwer version
        return {"wer": 1.0, "cer": 1.0}
    try:
        import jiwer
    except ImportError as err:
        raise MetricUnavailable(f"WER: the `jiwer` package cannot be imported ({err})") from err
    return {"wer": float(jiwer.wer(ref, hyp)), "cer": float(jiwer.cer(ref, hyp))}


class Wer(TransientState, Metric):
    """Word and character error rate of an ASR transcript (0 = perfect, can exceed 1 with insertions)."""

    name = "wer"
    columns = ("wer", "cer")
    intrusive = False
    higher_is_better = False
    version = "1"                # bump when normalisation or decoding changes the numbers
    needs_text = True            # the runner must pass the manifest's transcript (score_text)
    _transient = ("_asr",)

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        self.eval_cfg = dict(eval_cfg or {})
        self._asr: Transcriber | None = None
        self._description = ""

    def load(self) -> None:
        try:
            import jiwer  # noqa: F401 - fail at load time, not on the first utterance
        except ImportError as err:
            raise MetricUnavailable(f"WER: the `jiwer` package cannot be imported ({err})") from err
        self._asr = load_transcriber(self.eval_cfg)
        self._description = self._asr.model

    @property
    def model(self) -> str:
        """The recogniser that ran (kept after pickling, when the model itself is dropped)."""
        return f"{self._description or 'ASR not loaded'}; text normalised by dscodec.evaluate.textnorm, jiwer rates"

    def transcribe(self, deg: np.ndarray) -> str:
        """Raw transcript of one utterance (what a reference-features cache would store)."""
        if self._asr is None:
            self.load()
        assert self._asr is not None
        return self._asr.transcribe(deg)

    @staticmethod
    def error_rates(hypothesis: str, text: str) -> dict[str, float]:
        return error_rates(text, hypothesis)

    def score_text(self, deg: np.ndarray, text: str) -> dict[str, float]:
        """WER/CER of the transcript of ``deg`` against ``text`` (the manifest's transcript)."""
        if not normalize_text(text):  # before the ASR runs: no transcript, nothing to compare with
            raise MetricInputError(f"WER: the manifest's text for this utterance is empty ({text!r})")
        return error_rates(text, self.transcribe(deg))

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        """Not computable from audio alone; raising keeps a mis-wired runner from producing numbers."""
        raise TypeError("the wer metric needs the utterance's transcript: call Wer.score_text(deg, text)")
