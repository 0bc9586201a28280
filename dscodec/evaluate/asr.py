"""Speech recognisers for the WER/CER column: PocketSphinx offline, a local Whisper checkpoint when configured.

Why two: the pipeline must run offline, and the only English recogniser whose model ships inside
a registry package is PocketSphinx (the ``pocketsphinx`` 5.x wheel carries the CMU Sphinx en-US
acoustic model, a trigram LM and the CMU dictionary). It is a weak recogniser (GMM acoustic
model, 2015), so WERs from it are only comparable with each other, read against the ground-truth
row. A Whisper checkpoint that the user has on disk is far stronger and is used instead when
configured. Which recogniser ran is part of every result (:attr:`Transcriber.model`), as for the
speaker model.

Config (``evaluation`` section):

``asr_model``: ``auto`` | ``pocketsphinx`` | ``whisper``
    ``whisper`` needs ``asr_checkpoint`` and is unavailable (with the reason) if it does not load;
    ``auto`` uses Whisper when ``asr_checkpoint`` is set and loads, else PocketSphinx, and keeps
    the reason Whisper was not used in :attr:`Transcriber.model`.
``asr_checkpoint``: path or null
    A folder with ``config.json`` = a Hugging Face Whisper model (needs the ``transformers``
    package, not installed by default); a file = an ``openai-whisper`` checkpoint (``*.pt``,
    needs the ``openai-whisper`` package, not installed by default).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics._common import check_signal, package_version
from dscodec.evaluate.metrics.base import SAMPLE_RATE, MetricUnavailable

log = logging.getLogger(__name__)

ASR_MODELS = ("auto", "pocketsphinx", "whisper")
WHISPER_WINDOW_S = 30.0          # Whisper's input window; longer inputs need long-form decoding


class Transcriber(ABC):
    """Turns mono float32 16 kHz speech into text. Loaded once per job; ``transcribe`` is per utterance."""

    @abstractmethod
    def load(self) -> None:
        """Load the model; raise MetricUnavailable(reason) if that is impossible here."""

    @abstractmethod
    def transcribe(self, wav: np.ndarray) -> str:
        """The recognised text (raw: normalisation is the caller's job); may be empty."""

    @property
    @abstractmethod
    def model(self) -> str:
        """Engine, version and acoustic model, quoted in table footers."""


class PocketSphinxTranscriber(Transcriber):
    """PocketSphinx 5.x with the en-US model, LM and dictionary from its own wheel (default config)."""

    def __init__(self) -> None:
        self._decoder: Any = None

    def load(self) -> None:
        try:
            import pocketsphinx
        except ImportError as err:
            raise MetricUnavailable(f"PocketSphinx: the `pocketsphinx` package cannot be imported ({err})") from err
        try:
            # loglevel FATAL: its INFO log is hundreds of lines per decoder on stderr
            self._decoder = pocketsphinx.Decoder(loglevel="FATAL")
        except Exception as err:  # noqa: BLE001 - missing model files, bad install: all "cannot load"
            raise MetricUnavailable(f"PocketSphinx: the decoder cannot be created: {type(err).__name__}: {err}") from err
        if int(self._decoder.config["samprate"]) != SAMPLE_RATE:  # pragma: no cover - the en-US model is 16 kHz
            raise MetricUnavailable(f"PocketSphinx: expects {self._decoder.config['samprate']} Hz, not {SAMPLE_RATE}")

    def transcribe(self, wav: np.ndarray) -> str:
        """Decode one utterance as a whole (``full_utt``: cepstral mean over this utterance only,
        so a result does not depend on which utterances came before)."""
        if self._decoder is None:
            self.load()
        wav = check_signal(wav, "speech")
        pcm = np.round(np.clip(wav, -1.0, 1.0) * 32767.0).astype("<i2")
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), False, True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    @property
    def model(self) -> str:
        return (f"PocketSphinx {package_version('pocketsphinx')} (CMU Sphinx en-US PTM acoustic model, "
                "en-us.lm.bin trigram LM, cmudict-en-us.dict; shipped in the wheel)")


class WhisperTranscriber(Transcriber):
    """A local Whisper checkpoint, greedy English transcription, never downloaded."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint
        self.backend = ""
        self._model: Any = None
        self._processor: Any = None

    def load(self) -> None:
        path = self.checkpoint
        if not path.exists():
            raise MetricUnavailable(f"Whisper: evaluation.asr_checkpoint {path} does not exist")
        if path.is_dir():
            self._load_transformers(path)
        else:
            self._load_openai(path)

    def _load_transformers(self, path: Path) -> None:
        if not (path / "config.json").is_file():
            raise MetricUnavailable(f"Whisper: {path} is a folder without config.json (expected a Hugging Face "
                                    "Whisper model folder)")
        try:
            from transformers import WhisperForConditionalGeneration, WhisperProcessor
        except ImportError as err:
            raise MetricUnavailable(f"Whisper: {path} is a Hugging Face model folder and the `transformers` "
                                    f"package is not installed ({err})") from err
        try:
            self._processor = WhisperProcessor.from_pretrained(str(path), local_files_only=True)
            self._model = WhisperForConditionalGeneration.from_pretrained(str(path), local_files_only=True).eval()
        except Exception as err:  # noqa: BLE001
            raise MetricUnavailable(f"Whisper: cannot load {path}: {type(err).__name__}: {err}") from err
        self.backend = f"transformers {package_version('transformers')}"

    def _load_openai(self, path: Path) -> None:
        try:
            import whisper
        except ImportError as err:
            raise MetricUnavailable(f"Whisper: {path} is a checkpoint file and the `openai-whisper` package is "
                                    f"not installed ({err})") from err
        try:
            self._model = whisper.load_model(str(path), device="cpu")
        except Exception as err:  # noqa: BLE001
            raise MetricUnavailable(f"Whisper: cannot load {path}: {type(err).__name__}: {err}") from err
        self.backend = f"openai-whisper {package_version('openai-whisper')}"

    def transcribe(self, wav: np.ndarray) -> str:
        if self._model is None:
            self.load()
        wav = check_signal(wav, "speech")
        if self._processor is None:  # openai-whisper: its transcribe() does long-form decoding itself
            out = self._model.transcribe(wav, language="en", task="transcribe", temperature=0.0, fp16=False,
                                         condition_on_previous_text=False, verbose=None)
            return str(out["text"]).strip()
        import torch

        long_form = wav.size > WHISPER_WINDOW_S * SAMPLE_RATE
        kwargs = dict(truncation=False, padding="longest", return_attention_mask=True) if long_form else {}
        inputs = self._processor(wav, sampling_rate=SAMPLE_RATE, return_tensors="pt", **kwargs)
        gen = {"attention_mask": inputs["attention_mask"]} if long_form else {}
        with torch.no_grad():
            ids = self._model.generate(inputs.input_features, language="en", task="transcribe", **gen)
        return str(self._processor.batch_decode(ids, skip_special_tokens=True)[0]).strip()

    @property
    def model(self) -> str:
        return f"Whisper ({self.checkpoint}, {self.backend or 'not loaded'})"


class FallbackTranscriber(Transcriber):
    """``auto`` without a usable Whisper: PocketSphinx, and the reason Whisper was not used (for the footer)."""

    def __init__(self, inner: Transcriber, why: str) -> None:
        self.inner, self.why = inner, why

    def load(self) -> None:
        self.inner.load()

    def transcribe(self, wav: np.ndarray) -> str:
        return self.inner.transcribe(wav)

    @property
    def model(self) -> str:
        return f"{self.inner.model}; configured Whisper not used: {self.why}"


def load_transcriber(eval_cfg: Mapping[str, Any] | None) -> Transcriber:
    """The configured recogniser, loaded (module docstring); MetricUnavailable if none can load."""
    cfg = dict(eval_cfg or {})
    choice = cfg.get("asr_model") or "auto"
    if choice not in ASR_MODELS:
        raise ConfigError(f"evaluation.asr_model: {choice!r} is not one of {', '.join(ASR_MODELS)}")
    checkpoint = Path(cfg["asr_checkpoint"]).expanduser() if cfg.get("asr_checkpoint") else None
    if choice == "whisper" and checkpoint is None:
        raise MetricUnavailable("Whisper: evaluation.asr_model is whisper but evaluation.asr_checkpoint is not set "
                                "(no checkpoint is ever downloaded)")
    if choice in ("whisper", "auto") and checkpoint is not None:
        whisper = WhisperTranscriber(checkpoint)
        try:
            whisper.load()
            return whisper
        except MetricUnavailable as err:
            if choice == "whisper":
                raise
            log.warning("ASR: %s; using PocketSphinx instead", err)
            fallback = FallbackTranscriber(PocketSphinxTranscriber(), str(err))
            fallback.load()
            return fallback
    transcriber = PocketSphinxTranscriber()
    transcriber.load()
    return transcriber


__all__ = ["ASR_MODELS", "Transcriber", "PocketSphinxTranscriber", "WhisperTranscriber", "FallbackTranscriber",
           "load_transcriber"]
