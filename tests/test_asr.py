"""WER/CER column (issue 11, item 5): text normalisation, error rates, the recognisers and their selection."""
from __future__ import annotations

import pickle
import random
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from dscodec.evaluate.asr import (FallbackTranscriber, PocketSphinxTranscriber, WhisperTranscriber,
                                  load_transcriber)
from dscodec.evaluate.metrics._common import MetricInputError
from dscodec.evaluate.metrics.base import MetricUnavailable
from dscodec.evaluate.metrics.wer import Wer, error_rates
from dscodec.evaluate.textnorm import cardinal, normalize_text, ordinal

SR = 16000


# ------------------------------------------------------------------------------ normalisation
@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", "hello world"),
    ("HE SAID: \u201cDON\u2019T GO\u201d...  NOW", "he said don't go now"),
    ("a well-known   'quoted' word;\tend.", "a well known quoted word end"),
    ("Caf\u00e9 na\u00efve", "cafe naive"),
    ("", ""),
    ("?!.", ""),
])
def test_normalize_text_case_punctuation_whitespace(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_text_expands_numbers() -> None:
    assert normalize_text("1,200 people, 3.5 km, the 21st; 007") == (
        "one thousand two hundred people three point five km the twenty first zero zero seven")
    assert cardinal(0) == "zero" and cardinal(105) == "one hundred five"
    assert cardinal(2_000_017) == "two million seventeen"
    assert [ordinal(n) for n in (1, 2, 3, 12, 20, 44)] == ["first", "second", "third", "twelfth", "twentieth",
                                                           "forty fourth"]


def test_reference_and_hypothesis_are_normalised_the_same_way() -> None:
    # LibriSpeech-style upper-case reference vs a punctuated lower-case hypothesis: no errors
    assert error_rates("IT'S A TEST OF TWENTY ONE WORDS", "It's a test of 21 words.") == {"wer": 0.0, "cer": 0.0}


# ------------------------------------------------------------------------------ error rates
def test_error_rates_on_known_strings() -> None:
    # 6 reference words; "sat"->"sit" is 1 substitution, the second "the" 1 deletion: WER 2/6
    # characters: "the cat sat on the mat" (22) -> "the cat sit on mat": 1 substitution + 4 deletions: 5/22
    rates = error_rates("The cat sat on the mat.", "the cat sit on mat")
    assert rates["wer"] == pytest.approx(2 / 6)
    assert rates["cer"] == pytest.approx(5 / 22)
    # kitten -> sitting: Levenshtein distance 3 over 6 reference characters; 1 word substituted
    assert error_rates("kitten", "sitting") == pytest.approx({"wer": 1.0, "cer": 0.5})
    # insertions can push WER above 1: 2 inserted words against a 1-word reference
    assert error_rates("yes", "yes yes no")["wer"] == pytest.approx(2.0)


def test_empty_hypothesis_is_all_deletions_and_empty_reference_is_a_failure() -> None:
    assert error_rates("some words here", "") == {"wer": 1.0, "cer": 1.0}
    assert error_rates("some words here", " ... ") == {"wer": 1.0, "cer": 1.0}
    with pytest.raises(MetricInputError, match="empty"):
        error_rates("", "anything")
    with pytest.raises(MetricInputError, match="empty"):
        error_rates(" -- ", "anything")


def test_wer_metric_refuses_an_empty_text_before_running_the_asr() -> None:
    metric = Wer({})  # not loaded: a refused utterance must not need (or load) the recogniser
    with pytest.raises(MetricInputError, match="manifest's text"):
        metric.score_text(np.zeros(SR, np.float32), "")
    assert metric._asr is None


def test_wer_metric_declares_its_columns_and_cannot_score_without_text() -> None:
    metric = Wer({})
    assert (metric.name, metric.columns, metric.intrusive, metric.higher_is_better) == ("wer", ("wer", "cer"),
                                                                                       False, False)
    with pytest.raises(TypeError, match="score_text"):
        metric.score(np.zeros(SR, np.float32), np.zeros(SR, np.float32))


# ------------------------------------------------------------------------------ real PocketSphinx
def corpus_utterance() -> tuple[np.ndarray, str]:
    """One utterance made exactly as the synthetic corpus makes them (synth.render, corpus sentences),
    in flite's slt voice when flite is installed, else espeak-ng from the espeakng-loader wheel."""
    from dscodec.data import sentences, synth
    from dscodec.data.tts import EspeakLibEngine, FliteEngine, Voice

    if FliteEngine().available():
        engine, voice = FliteEngine(), Voice("flite", "slt", "f")
    elif EspeakLibEngine().available():
        engine, voice = EspeakLibEngine(), Voice("espeakng-loader", "en-us+m3", "m")
    else:
        pytest.skip("no TTS engine: install flite (make system-deps) or the espeakng-loader package")
    spk = synth.Speaker("test-clean", "1089", voice, speed=1.0, pitch=50, peak_dbfs=-3.0)
    text = sentences.utterance_text(random.Random("asr-test"), 1)
    wav = synth.render(engine, spk, text, np.random.default_rng(0), SR)
    return wav, sentences.librispeech_normalize(text)


@pytest.fixture(scope="module")
def utterance() -> tuple[np.ndarray, str]:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is a main dependency (pyproject.toml)")
    return corpus_utterance()


@pytest.fixture(scope="module")
def metric() -> Wer:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is a main dependency (pyproject.toml)")
    m = Wer({"asr_model": "pocketsphinx"})
    m.load()
    return m


def test_pocketsphinx_transcribes_clean_speech_better_than_noise(utterance, metric) -> None:
    wav, text = utterance
    clean = metric.score_text(wav, text)
    noise = np.random.default_rng(1).standard_normal(wav.size).astype(np.float32)
    noise *= np.sqrt(np.mean(wav ** 2) / np.mean(noise ** 2))  # same power as the speech
    noisy = metric.score_text(noise, text)
    assert set(clean) == {"wer", "cer"}
    assert clean["wer"] < noisy["wer"], (clean, noisy, metric.transcribe(wav))
    assert clean["wer"] < 1.0 and clean["cer"] < noisy["cer"]
    assert "PocketSphinx" in metric.model


def test_pocketsphinx_result_does_not_depend_on_the_previous_utterance(utterance, metric) -> None:
    wav, _ = utterance
    first = metric.transcribe(wav)
    metric.transcribe(np.random.default_rng(2).standard_normal(3 * SR).astype(np.float32) * 0.3)
    assert metric.transcribe(wav) == first
    assert first  # the clean utterance is not transcribed as nothing


def test_wer_metric_pickles_without_its_model_and_reloads(utterance, metric) -> None:
    wav, text = utterance
    clone = pickle.loads(pickle.dumps(metric))
    assert clone._asr is None and clone.model == metric.model
    assert clone.score_text(wav, text) == metric.score_text(wav, text)


# ------------------------------------------------------------------------------ selection
def test_auto_falls_back_to_pocketsphinx_when_the_whisper_checkpoint_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    missing = tmp_path / "whisper-small"
    asr = load_transcriber({"asr_model": "auto", "asr_checkpoint": str(missing)})
    assert isinstance(asr, FallbackTranscriber) and isinstance(asr.inner, PocketSphinxTranscriber)
    assert "does not exist" in asr.why and str(missing) in asr.why
    assert asr.model.startswith("PocketSphinx") and "Whisper not used" in asr.model


def test_auto_without_checkpoint_is_plain_pocketsphinx() -> None:
    pytest.importorskip("pocketsphinx")
    asr = load_transcriber({"asr_model": "auto", "asr_checkpoint": None})
    assert isinstance(asr, PocketSphinxTranscriber)


def test_explicit_whisper_is_never_replaced(tmp_path: Path) -> None:
    with pytest.raises(MetricUnavailable, match="not set"):
        load_transcriber({"asr_model": "whisper"})
    with pytest.raises(MetricUnavailable, match="does not exist"):
        load_transcriber({"asr_model": "whisper", "asr_checkpoint": str(tmp_path / "nope.pt")})


def test_whisper_folder_without_transformers_is_unavailable_with_the_reason(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails as if not installed
    with pytest.raises(MetricUnavailable, match="transformers"):
        WhisperTranscriber(tmp_path).load()


def test_auto_uses_a_whisper_checkpoint_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Selection only (no real Whisper here): an openai-whisper checkpoint file that loads wins over PocketSphinx."""
    ckpt = tmp_path / "small.en.pt"
    ckpt.write_bytes(b"not read by the fake")
    calls: list[dict] = []

    class FakeModel:
        def transcribe(self, wav: np.ndarray, **kwargs) -> dict:
            calls.append(kwargs)
            return {"text": " Hello world."}

    fake = types.ModuleType("whisper")
    fake.load_model = lambda path, device: FakeModel()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "whisper", fake)
    asr = load_transcriber({"asr_model": "auto", "asr_checkpoint": str(ckpt)})
    assert isinstance(asr, WhisperTranscriber) and str(ckpt) in asr.model
    assert error_rates("HELLO WORLD", asr.transcribe(np.ones(SR, np.float32) * 0.1)) == {"wer": 0.0, "cer": 0.0}
    assert calls[0]["language"] == "en"


def test_metric_unavailable_when_pocketsphinx_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(MetricUnavailable, match="pocketsphinx"):
        PocketSphinxTranscriber().load()
    with pytest.raises(MetricUnavailable, match="pocketsphinx"):
        Wer({"asr_model": "auto"}).load()
