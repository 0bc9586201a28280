"""Delay compensation (dscodec/evaluate/align.py): known shifts are recovered exactly, lengths match,
phase-blind (vocoder-like) reconstructions are aligned on their envelope, and the search window is
never left silently."""
from __future__ import annotations

import numpy as np
import pytest

from scipy import signal

from dscodec.evaluate.align import (DECLARED_DELAY_TOLERANCE, AlignmentError, align, estimate, estimate_delay,
                                    match_length, search_window)

SR = 16000


@pytest.fixture(scope="module")
def speechlike() -> np.ndarray:
    """1.5 s of voiced-speech-like signal: harmonics with a moving f0 under a syllable envelope, plus noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * SR)) / SR
    f0 = 120 + 30 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
    return (0.3 * envelope * voiced + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def speechlike_long() -> np.ndarray:
    """3 s of the tests' speech-like signal (fixtures_data): syllable-rate envelope over harmonics."""
    from fixtures_data import speechlike as make

    return make(3.0, SR, seed=1)


def delayed(x: np.ndarray, delay: int) -> np.ndarray:
    """x delayed by `delay` samples (>0: zeros in front, like codec look-ahead; <0: start cut off)."""
    if delay >= 0:
        return np.concatenate([np.zeros(delay, np.float32), x])
    return x[-delay:].copy()


@pytest.mark.parametrize("delay", [0, 1, 37, 240, 1599, -1, -53, -800])
def test_known_integer_delay_is_recovered_exactly(speechlike, delay):
    deg = delayed(speechlike, delay)
    ref_a, deg_a, found = align(speechlike, deg, max_shift=1600)
    assert found == delay
    # delay > 0 prepends zeros (all of the reference survives); delay < 0 cuts its first |delay| samples
    assert ref_a.shape == deg_a.shape and ref_a.size == speechlike.size - max(0, -delay)
    np.testing.assert_array_equal(ref_a, deg_a)  # a pure shift leaves identical signals


@pytest.mark.parametrize("delay", [29, -71])
def test_delay_survives_gain_noise_and_extra_tail(speechlike, delay):
    rng = np.random.default_rng(1)
    deg = 0.7 * delayed(speechlike, delay)
    deg = np.concatenate([deg, np.zeros(321, np.float32)])          # codec padding at the end
    deg = (deg + 0.02 * rng.standard_normal(deg.size)).astype(np.float32)
    ref_a, deg_a, found = align(speechlike, deg)
    assert found == delay
    assert ref_a.size == deg_a.size
    assert np.corrcoef(ref_a, deg_a)[0, 1] > 0.9


def test_a_lag_past_the_window_edge_is_an_error_not_a_clamped_lag(speechlike):
    deg = delayed(speechlike, 500)
    assert estimate_delay(speechlike, deg, max_shift=1600) == 500
    with pytest.raises(AlignmentError, match="outside the search window"):
        estimate_delay(speechlike, deg, max_shift=100)


def test_causal_window_refuses_an_output_that_leads(speechlike):
    """A causal codec's window starts at 0: a reconstruction 53 samples early is an error, not lag 0."""
    assert search_window(None, 1600) == (0, 1600)
    with pytest.raises(AlignmentError, match="outside the search window"):
        estimate(speechlike, delayed(speechlike, -53), search_window(None, 1600))
    assert estimate(speechlike, delayed(speechlike, 0), search_window(None, 1600)).lag == 0


def test_declared_delay_narrows_the_window():
    assert search_window(320) == (320 - DECLARED_DELAY_TOLERANCE, 320 + DECLARED_DELAY_TOLERANCE)
    assert search_window(0) == (0, DECLARED_DELAY_TOLERANCE)                   # never negative unless declared
    assert search_window(-40) == (-40 - DECLARED_DELAY_TOLERANCE, -40 + DECLARED_DELAY_TOLERANCE)


def random_phase(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """x resynthesised from its STFT magnitude with random phases: what a vocoder keeps (the
    spectral envelope over time) and drops (the waveform's phase)."""
    rng = np.random.default_rng(seed)
    _, _, z = signal.stft(x, SR, nperseg=512, noverlap=384)
    _, y = signal.istft(np.abs(z) * np.exp(2j * np.pi * rng.uniform(size=z.shape)), SR, nperseg=512, noverlap=384)
    return y[: x.size].astype(np.float32)


@pytest.mark.parametrize("delay", [0, 320, 1000])
def test_phase_blind_delay_comes_from_the_envelope(delay):
    """The waveform cross-correlation of a phase-scrambled signal peaks at random; the envelope does not."""
    x = speechlike_long()
    deg = delayed(random_phase(x), delay)
    found = estimate(x, deg, (0, 1600))
    assert found.method == "envelope" and abs(found.lag - delay) <= 16
    assert found.correlation > 0.9


def test_waveform_codec_gets_the_sample_exact_lag(speechlike):
    """A waveform-preserving degradation (low-pass, noise): the envelope lag is refined on the waveform."""
    rng = np.random.default_rng(3)
    b, a = signal.butter(6, 3400, fs=SR)
    deg = delayed(signal.lfilter(b, a, speechlike).astype(np.float32), 123)
    deg = deg + 0.01 * rng.standard_normal(deg.size).astype(np.float32)
    found = estimate(speechlike, deg, search_window(None))
    assert found.method == "waveform" and found.correlation > 0.8
    # a causal IIR low-pass adds a few samples of group delay of its own
    assert 123 <= found.lag <= 123 + 8


def test_match_length_trims_to_the_shorter(speechlike):
    ref, deg = match_length(speechlike, speechlike[:-200])
    assert ref.size == deg.size == speechlike.size - 200
    ref, deg = match_length(speechlike[None, :], np.concatenate([speechlike, np.ones(5, np.float32)]))
    assert ref.ndim == deg.ndim == 1 and ref.size == deg.size == speechlike.size


def test_silence_has_no_delay_to_find(speechlike):
    silent = np.zeros_like(speechlike)
    ref_a, deg_a, found = align(speechlike, silent)
    assert found == 0 and ref_a.size == deg_a.size == speechlike.size


@pytest.mark.parametrize("ref, deg", [(np.zeros(0), np.ones(10)), (np.ones(10), np.zeros(0)),
                                      (np.ones((2, 10)), np.ones(10))])
def test_bad_input_is_a_clear_error(ref, deg):
    with pytest.raises(AlignmentError):
        align(ref, deg)


def test_negative_max_shift_is_rejected(speechlike):
    with pytest.raises(AlignmentError, match="max_shift"):
        align(speechlike, speechlike, max_shift=-1)
