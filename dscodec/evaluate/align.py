"""Delay compensation and length matching before intrusive metrics (paper Sec. 3.2 protocol).

Why: intrusive metrics compare reference and reconstruction sample by sample (PESQ, STOI) or
frame by frame (V/UV F1, periodicity). Codecs shift the signal: look-ahead, padding to a whole
number of frames, resampling filters (EnCodec at 24 kHz, Codec2's ~20 ms analysis delay).
PESQ's own time alignment absorbs part of that, STOI and the pitch metrics do not: a few
milliseconds of offset already lower STOI and flip voicing decisions at boundaries. DS-Codec
itself is delay-free by construction (same-length convolutions, hop 200), so its outputs only
need trimming to a common length (:func:`match_length`); baselines go through :func:`estimate`.

Why not the waveform cross-correlation alone: a vocoder such as Codec2 does not keep the
waveform's phase, so its waveform cross-correlation has no real peak (normalised maxima of
0.1-0.3 at random lags, even negative ones). The delay is therefore first estimated from
what every codec keeps, the short-time spectral envelope: log-energy contours of 8 bands
(200 Hz-4 kHz, 32 ms windows at a 1 ms hop) are cross-correlated over the search window and
the peak is refined by parabolic interpolation. On 72 Codec2 round trips (9 flite/espeak-ng
voices, both modes) this gave 289-346 samples, median 320; bands below 200 Hz,
where a vocoder's output differs most, pulled a female voice's lags down to 235. Codecs that
do keep the waveform (Opus, EnCodec, DAC, ...) then get their sample-exact lag from the
normalised waveform cross-correlation within ±3 ms of the envelope lag, provided its peak there
reaches 0.4 (Opus at 6 kbps: 0.5-0.8; Codec2: mostly below 0.3, and where it is higher the
peak agrees with the envelope).

The search window is explicit and never left silently: if the best lag lies outside it (the
correlation still rises past its edge), :func:`estimate` raises :class:`AlignmentError`; the
runner then counts the utterance as an alignment failure instead of scoring it at a clamped,
wrong lag. :func:`search_window` gives the window for a codec: ``[0, max_shift]`` for a causal
codec (output cannot precede input), or its declared delay ± a tolerance.

:class:`Aligner` (from :func:`make_aligner`) is the policy of one evaluation job: which codecs
are searched, in which window, and what goes into the summary.

Convention: ``delay > 0`` means the reconstruction lags the reference by ``delay`` samples
(``deg[n + delay] ~ ref[n]``); ``delay < 0`` means it leads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from dscodec.errors import DSCodecError

if TYPE_CHECKING:  # the job's reconstructor; no import cycle at run time
    from dscodec.evaluate.baselines.base import Reconstructor

SAMPLE_RATE = 16000
ENVELOPE_HOP = 16                 # 1 ms at 16 kHz: the envelope lag's grid before refinement
ENVELOPE_WINDOW_S = 0.032         # energy window; longer windows gave tighter Codec2 lags than 8-16 ms
BAND_EDGES_HZ = np.geomspace(200.0, 4000.0, 9)   # 8 bands that narrow-band codecs keep too (see above)
FLOOR_DB = -50.0                  # below the loudest band frame: silence does not dominate the contours
EDGE_MARGIN_FRAMES = 3            # searched beyond the window, to tell an edge peak from a real one
MIN_OVERLAP_FRAMES = 8
WAVEFORM_SEARCH = 48              # ±3 ms around the envelope lag (less than one pitch period)
WAVEFORM_MIN_CORRELATION = 0.4    # normalised peak that counts as "the codec keeps the waveform"
DECLARED_DELAY_TOLERANCE = 160    # ±10 ms searched around a codec's declared delay


class AlignmentError(DSCodecError, ValueError):
    """The two signals cannot be aligned (empty, not 1-D, bad window, best lag outside the window)."""


@dataclass(frozen=True)
class DelayEstimate:
    """A lag and how it was found: "waveform" (sample-exact), "envelope" (phase-blind, ±~2 ms),
    or "none" (a silent signal: nothing to correlate, the window's default lag is used)."""

    lag: int
    method: str
    correlation: float | None     # normalised correlation at the lag, for the method used
    window: tuple[int, int]


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


def search_window(nominal_delay: int | None, max_shift: int = 1600,
                  tolerance: int = DECLARED_DELAY_TOLERANCE) -> tuple[int, int]:
    """Lags searched for a codec: ``[0, max_shift]`` when it declares nothing (causal: its output
    cannot precede its input), else ``nominal ± tolerance``, still never below 0 unless the
    declared delay itself is negative (a decoder that trims more than its look-ahead)."""
    if nominal_delay is None:
        return 0, int(max_shift)
    d = int(nominal_delay)
    return (d - tolerance if d < 0 else max(0, d - tolerance)), d + tolerance


# ------------------------------------------------------------------------------- envelope lag
def _band_envelopes(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """[bands, frames] log energies (dB, floored) of 32 ms windows every ENVELOPE_HOP samples."""
    from scipy import signal  # here, not at import: ~0.6 s that a job which aligns nothing would pay

    win = int(round(ENVELOPE_WINDOW_S * sample_rate))
    starts = np.arange(0, x.size - win + 1, ENVELOPE_HOP)
    bands = []
    for lo_hz, hi_hz in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:]):
        sos = signal.butter(4, [lo_hz, min(hi_hz, 0.45 * sample_rate)], btype="bandpass", fs=sample_rate,
                            output="sos")
        y = signal.sosfilt(sos, x)
        c = np.concatenate([[0.0], np.cumsum(y * y)])
        bands.append((c[starts + win] - c[starts]) / win)
    energy = np.stack(bands)
    floor = max(float(energy.max()), 1e-20) * 10 ** (FLOOR_DB / 10)
    return 10 * np.log10(np.maximum(energy, floor))


def _frame_correlation(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Pearson correlation of the band contours over their overlap, b shifted by k frames."""
    if k >= 0:
        n = min(a.shape[1], b.shape[1] - k)
        u, v = a[:, :n], b[:, k:k + n]
    else:
        n = min(b.shape[1], a.shape[1] + k)
        u, v = a[:, -k:-k + n], b[:, :n]
    if n < MIN_OVERLAP_FRAMES:
        return -np.inf
    u = u - u.mean(axis=1, keepdims=True)
    v = v - v.mean(axis=1, keepdims=True)
    den = float(np.sqrt((u * u).sum() * (v * v).sum()))
    return float((u * v).sum()) / den if den > 0 else -np.inf


def _envelope_lag(ref: np.ndarray, deg: np.ndarray, lo: int, hi: int, sample_rate: int
                  ) -> tuple[float, float] | None:
    """(lag in samples, refined to sub-frame by a parabola; its correlation) over [lo, hi] plus a
    margin, or None when the signals are too short or flat to have an envelope."""
    win = int(round(ENVELOPE_WINDOW_S * sample_rate))
    if min(ref.size, deg.size) < win + MIN_OVERLAP_FRAMES * ENVELOPE_HOP:
        return None
    a, b = _band_envelopes(ref, sample_rate), _band_envelopes(deg, sample_rate)
    ks = np.arange(lo // ENVELOPE_HOP - EDGE_MARGIN_FRAMES, -(-hi // ENVELOPE_HOP) + EDGE_MARGIN_FRAMES + 1)
    r = np.array([_frame_correlation(a, b, int(k)) for k in ks])
    if not np.isfinite(r).any():
        return None
    i = int(np.argmax(r))
    offset = 0.0
    if 0 < i < r.size - 1 and np.isfinite(r[i - 1]) and np.isfinite(r[i + 1]):
        curve = r[i - 1] - 2 * r[i] + r[i + 1]
        if curve < 0:
            offset = float(np.clip(0.5 * (r[i - 1] - r[i + 1]) / curve, -0.5, 0.5))
    return (ks[i] + offset) * ENVELOPE_HOP, float(r[i])


# ------------------------------------------------------------------------------- waveform lag
def _waveform_correlations(ref: np.ndarray, deg: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation (over each lag's overlap) of deg with ref at the given lags."""
    from scipy import signal

    corr = signal.correlate(deg, ref, mode="full", method="fft")
    cr = np.concatenate([[0.0], np.cumsum(ref * ref)])
    cd = np.concatenate([[0.0], np.cumsum(deg * deg)])
    out = np.full(lags.size, -np.inf)
    for j, lag in enumerate(int(v) for v in lags):
        r0, d0 = max(0, -lag), max(0, lag)            # overlap: ref[r0:r0+n] against deg[d0:d0+n]
        n = min(ref.size - r0, deg.size - d0)
        if n <= 0:
            continue
        energy = (cr[r0 + n] - cr[r0]) * (cd[d0 + n] - cd[d0])
        if energy > 0:
            out[j] = corr[lag + ref.size - 1] / np.sqrt(energy)
    return out


def estimate(ref: np.ndarray, deg: np.ndarray, window: tuple[int, int], *, default: int | None = None,
             sample_rate: int = SAMPLE_RATE) -> DelayEstimate:
    """Delay of deg behind ref within ``window = (lo, hi)`` (see the module docstring).

    Raises AlignmentError when the best lag lies outside the window. If either signal is digital
    silence there is nothing to correlate: the lag is ``default`` (else the window's lag closest
    to 0) and the metrics judge the silence itself."""
    ref = _as_mono(ref, "reference").astype(np.float64, copy=False)
    deg = _as_mono(deg, "reconstruction").astype(np.float64, copy=False)
    lo, hi = int(window[0]), int(window[1])
    if hi < lo:
        raise AlignmentError(f"empty search window [{lo}, {hi}]")
    if not np.any(ref) or not np.any(deg):
        lag = int(np.clip(0 if default is None else default, lo, hi))
        return DelayEstimate(lag, "none", None, (lo, hi))
    env = _envelope_lag(ref, deg, lo, hi, sample_rate)
    if env is None:   # too short for an envelope: the waveform over the whole window (plus margin)
        center, reach, env_r = (lo + hi) / 2, (hi - lo) / 2 + EDGE_MARGIN_FRAMES * ENVELOPE_HOP, None
    else:
        center, reach, env_r = env[0], WAVEFORM_SEARCH, env[1]
    lags = np.arange(int(np.floor(center - reach)), int(np.ceil(center + reach)) + 1)
    r = _waveform_correlations(ref, deg, lags)
    j = int(np.argmax(r))
    interior = 0 < j < lags.size - 1 or env is None
    if np.isfinite(r[j]) and r[j] >= WAVEFORM_MIN_CORRELATION and interior:
        result = DelayEstimate(int(lags[j]), "waveform", float(r[j]), (lo, hi))
    elif env is not None:
        result = DelayEstimate(int(round(env[0])), "envelope", env_r, (lo, hi))
    else:
        raise AlignmentError("signal too short for an envelope and no waveform correlation peak to align on")
    if not lo <= result.lag <= hi:
        raise AlignmentError(
            f"best lag {result.lag} samples ({result.method}) lies outside the search window [{lo}, {hi}]: "
            "the codec's delay is not where it is expected, so no lag is trustworthy")
    return result


def estimate_delay(ref: np.ndarray, deg: np.ndarray, max_shift: int = 1600) -> int:
    """Lag within ±max_shift (see :func:`estimate`); a symmetric window, for signals of unknown causality."""
    if int(max_shift) < 0:
        raise AlignmentError(f"max_shift must be >= 0, got {max_shift}")
    return estimate(ref, deg, (-int(max_shift), int(max_shift))).lag


def shift(ref: np.ndarray, deg: np.ndarray, delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Both signals with deg moved back by ``delay`` samples, trimmed to a common length."""
    ref = _as_mono(ref, "reference")
    deg = _as_mono(deg, "reconstruction")
    if delay >= 0:
        deg = deg[delay:]
    else:
        ref = ref[-delay:]
    if ref.size == 0 or deg.size == 0:
        raise AlignmentError(f"nothing overlaps after compensating a delay of {delay} samples")
    return match_length(ref, deg)


def align(ref: np.ndarray, deg: np.ndarray, max_shift: int = 1600, *,
          window: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(ref_aligned, deg_aligned, delay): deg shifted by its estimated delay, both trimmed to a common length.

    ``window`` (lo, hi) bounds the search; by default ±max_shift (1600 samples = 100 ms at 16 kHz,
    beyond any codec's algorithmic delay) so that a periodic signal cannot lock onto a far-away
    repetition."""
    if window is None:
        if int(max_shift) < 0:
            raise AlignmentError(f"max_shift must be >= 0, got {max_shift}")
        window = (-int(max_shift), int(max_shift))
    delay = estimate(ref, deg, window).lag
    ref_a, deg_a = shift(ref, deg, delay)
    return ref_a, deg_a, delay

# ------------------------------------------------------------------------------- one job's policy
MAX_SHIFT = 1600            # 100 ms at 16 kHz: the largest delay searched for a codec that declares none


@dataclass(frozen=True)
class Aligner:
    """Delay compensation of one job. Baselines may add a codec delay: it is estimated within
    `window` (around the codec's declared `nominal` delay, else [0, MAX_SHIFT]: a causal codec's
    output cannot precede its input), phase-blind first, sample-exact where the waveform allows
    (:func:`estimate`). DS-Codec and the references are delay-free by construction
    (`window` None): only trimmed to a common length, delay 0, method "trim"."""

    window: tuple[int, int] | None
    nominal: int | None = None

    def __call__(self, ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, str]:
        """(ref_aligned, deg_aligned, delay_samples, method); AlignmentError when the best lag is off the window."""
        if self.window is None:
            ref_a, deg_a = match_length(ref, deg)
            return ref_a, deg_a, 0, "trim"
        found = estimate(ref, deg, self.window, default=self.nominal)
        ref_a, deg_a = shift(ref, deg, found.lag)
        return ref_a, deg_a, found.lag, found.method

    def describe(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """summary["alignment"]: the window searched and the lags used (per utterance: scores.parquet)."""
        delays = [int(r["delay_samples"]) for r in rows if r.get("delay_samples") is not None]
        methods: dict[str, int] = {}
        for r in rows:
            if r.get("delay_method"):
                methods[r["delay_method"]] = methods.get(r["delay_method"], 0) + 1
        return {"window": list(self.window) if self.window else None, "nominal_delay_samples": self.nominal,
                "methods": methods,
                "delay_samples": ({"min": min(delays), "median": float(np.median(delays)), "max": max(delays)}
                                  if delays else None)}


def make_aligner(kind: str, reconstructor: Reconstructor) -> Aligner:
    """The aligner of one job: a baseline's search window comes from its declared delay, if any."""
    if kind != "baseline":
        return Aligner(None)
    try:
        nominal = reconstructor.info.nominal_delay_samples
    except Exception:  # noqa: BLE001 - a reconstructor that cannot describe itself declares nothing
        nominal = None
    return Aligner(search_window(nominal, MAX_SHIFT), nominal)
