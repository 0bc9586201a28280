"""Delay compensation and length matching before intrusive metrics (paper Sec. 3.2 protocol).

Why: intrusive metrics compare reference and reconstruction sample by sample (PESQ, STOI) or
frame by frame (V/UV F1, periodicity). Codecs shift the signal: look-ahead, padding to a whole
number of frames, resampling filters (EnCodec at 24 kHz, Opus's 6.5 ms look-ahead, Codec2
frames). PESQ's own time alignment absorbs part of that, STOI and the pitch metrics do not: a
few milliseconds of offset already lower STOI and flip voicing decisions at boundaries. DS-Codec
itself is delay-free by construction (same-length convolutions, hop 200), so its outputs only
need trimming to a common length (:func:`match_length`); baselines go through :func:`align`.

Convention: ``delay > 0`` means the reconstruction lags the reference by ``delay`` samples
(``deg[n + delay] ~ ref[n]``); ``delay < 0`` means it leads.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from dscodec.errors import DSCodecError


class AlignmentError(DSCodecError, ValueError):
    """The two signals cannot be aligned (empty, not 1-D, negative search range)."""


def _as_mono(x: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim > 1 and sum(d > 1 for d in arr.shape) <= 1:  # [1, T] / [T, 1]
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise AlignmentError(f"{what}: expected a mono 1-D signal, got shape {np.shape(x)}")
    if arr.size == 0:
        raise AlignmentError(f"{what}: empty signal")
    return arr


def match_length(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trim both to the shorter length (codecs known to add no delay, e.g. DS-Codec's frame padding)."""
    ref = _as_mono(ref, "reference")
    deg = _as_mono(deg, "reconstruction")
    n = min(ref.size, deg.size)
    return ref[:n], deg[:n]


def estimate_delay(ref: np.ndarray, deg: np.ndarray, max_shift: int = 1600) -> int:
    """Lag (samples, within ±max_shift) that maximises the cross-correlation of deg with ref.

    FFT cross-correlation (scipy) costs O(N log N), so whole utterances are used; the peak of
    the raw (signed) correlation is taken, as codecs do not invert polarity. If either signal is
    digital silence there is nothing to correlate and the delay is 0 (the metrics then judge
    the silence itself)."""
    ref = _as_mono(ref, "reference").astype(np.float64, copy=False)
    deg = _as_mono(deg, "reconstruction").astype(np.float64, copy=False)
    if int(max_shift) < 0:
        raise AlignmentError(f"max_shift must be >= 0, got {max_shift}")
    if not np.any(ref) or not np.any(deg):
        return 0
    corr = signal.correlate(deg, ref, mode="full", method="fft")
    lags = signal.correlation_lags(deg.size, ref.size, mode="full")
    window = np.abs(lags) <= int(max_shift)
    # np.argmax returns the first maximum: among equal peaks the smallest lag wins (deterministic).
    return int(lags[window][np.argmax(corr[window])])


def align(ref: np.ndarray, deg: np.ndarray, max_shift: int = 1600) -> tuple[np.ndarray, np.ndarray, int]:
    """(ref_aligned, deg_aligned, delay): deg shifted by its estimated delay, both trimmed to a common length.

    ``max_shift`` bounds the search (1600 samples = 100 ms at 16 kHz, beyond any codec's
    algorithmic delay) so that a periodic signal cannot lock onto a far-away repetition."""
    ref = _as_mono(ref, "reference")
    deg = _as_mono(deg, "reconstruction")
    delay = estimate_delay(ref, deg, max_shift)
    if delay >= 0:
        deg = deg[delay:]
    else:
        ref = ref[-delay:]
    if ref.size == 0 or deg.size == 0:
        raise AlignmentError(f"nothing overlaps after compensating a delay of {delay} samples")
    ref_a, deg_a = match_length(ref, deg)
    return ref_a, deg_a, delay
