"""DNSMOS P.835 (Reddy et al., ICASSP 2022): non-intrusive SIG / BAK / OVRL MOS that works offline.

Reported beside UTMOS (issue 5): UTMOS needs downloaded weights, DNSMOS ships its ONNX models in
the ``speechmos`` pip package (``speechmos/dnsmos_models/sig_bak_ovr.onnx`` + ``model_v8.onnx``),
a packaging of Microsoft's ``DNSMOS/dnsmos_local.py``: 9.01 s windows hopped by 1 s (shorter
clips are repeated to 9.01 s), per-window raw scores mapped by the published polynomials,
averaged over windows. We reuse its ``DNSMOS`` class for all of that and only build the two
ONNX sessions ourselves, single-threaded, because the runner already runs one worker per core.

Input: the reference script reads 16-bit files, i.e. samples in [-1, 1]; ``speechmos`` refuses
anything else. A reconstruction that overshoots is clipped to [-1, 1] first, which is what
saving it as 16-bit FLAC does too. The P.808 score that speechmos' call also computes is not
reported, so it is not computed either (~35 % of DNSMOS' time; the P.835 numbers are unchanged).

Windows: ``evaluation.dnsmos_max_windows`` (null = every window, the reference script). A clip
shorter than 9.01 s is first repeated (doubled) to at least 9.01 s, so an 8 s clip becomes 16 s and
its 7 windows are cyclic shifts of the same speech: ~2.5 s of CPU per utterance for what one window
already sees. ``dnsmos_max_windows: 1`` scores the first window only, an [ours] option for CPU
budgets, set by the CPU default (configs/default.yaml; ~3x cheaper measured); configs/paper.yaml keeps
every window. The column's model description names the setting, so the table footer does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics._common import (MetricInputError, TransientState, check_signal, is_silent,
                                              package_version)
from dscodec.evaluate.metrics.base import SAMPLE_RATE, Metric, MetricUnavailable

PRIMARY_MODEL = ("dnsmos_models", "sig_bak_ovr.onnx")   # P.835 SIG/BAK/OVRL
P808_MODEL = ("dnsmos_models", "model_v8.onnx")         # speechmos' call also runs it; we do not (not reported)
MIN_SAMPLES = SAMPLE_RATE // 10                         # 100 ms; shorter clips are repeated 90x to 9.01 s


class Dnsmos(TransientState, Metric):
    """DNSMOS P.835 of the reconstruction alone: overall, signal and background MOS (1-5, higher is better)."""

    name = "dnsmos"
    columns = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")
    intrusive = False
    _transient = ("_dnsmos",)

    def __init__(self, eval_cfg: Mapping[str, Any] | None = None) -> None:
        self.eval_cfg = dict(eval_cfg or {})
        max_windows = self.eval_cfg.get("dnsmos_max_windows")
        if max_windows is not None and (int(max_windows) != max_windows or max_windows < 1):
            raise ConfigError(f"evaluation.dnsmos_max_windows: null (all) or a positive integer, got {max_windows!r}")
        self.max_windows: int | None = None if max_windows is None else int(max_windows)
        self._dnsmos: Any = None

    def load(self) -> None:
        try:
            import onnxruntime as ort
            import speechmos.dnsmos as dnsmos_module
        except ImportError as err:
            raise MetricUnavailable(f"DNSMOS: the `speechmos` package or onnxruntime cannot be imported ({err})") from err
        base = Path(dnsmos_module.__file__).parent
        primary = base.joinpath(*PRIMARY_MODEL)
        if not primary.is_file():
            raise MetricUnavailable(f"DNSMOS: {primary} is missing from the installed speechmos package")
        max_windows = self.max_windows
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1

        class _Dnsmos(dnsmos_module.DNSMOS):
            """speechmos' DNSMOS with a session built with our options (its __init__ takes none),
            computing P.835 only: its __call__ also runs the P.808 model on a mel spectrogram of
            every window, ~35 % of the time (measured), for a score we do not report."""

            def __init__(self) -> None:  # noqa: D401 - replaces the parent's constructor on purpose
                self.primary_model_path = str(primary)
                self.onnx_sess = ort.InferenceSession(str(primary), options, providers=["CPUExecutionProvider"])

            def p835(self, audio: np.ndarray, fs: int) -> dict[str, float]:
                """speechmos DNSMOS.__call__ (= dnsmos_local.py) line for line, minus P.808: the clip
                repeated to >= 9.01 s, 9.01 s windows hopped by 1 s, polynomial-mapped, averaged."""
                len_samples = int(dnsmos_module.INPUT_LENGTH * fs)
                while len(audio) < len_samples:
                    audio = np.append(audio, audio)
                num_hops = int(np.floor(len(audio) / fs) - dnsmos_module.INPUT_LENGTH) + 1
                if max_windows is not None:  # [ours] evaluation.dnsmos_max_windows: the first N windows
                    num_hops = min(num_hops, max_windows)
                sig, bak, ovr = [], [], []
                for idx in range(num_hops):
                    seg = audio[int(idx * fs): int((idx + dnsmos_module.INPUT_LENGTH) * fs)]
                    if len(seg) < len_samples:
                        continue
                    raw = self.onnx_sess.run(None, {"input_1": np.array(seg).astype("float32")[np.newaxis, :]})[0][0]
                    mos_sig, mos_bak, mos_ovr = self.get_polyfit_val(raw[0], raw[1], raw[2], False)
                    sig.append(mos_sig)
                    bak.append(mos_bak)
                    ovr.append(mos_ovr)
                return {"ovrl_mos": np.mean(ovr), "sig_mos": np.mean(sig), "bak_mos": np.mean(bak)}

        try:
            self._dnsmos = _Dnsmos()
        except Exception as err:  # noqa: BLE001 - a corrupt model file or an onnxruntime mismatch
            raise MetricUnavailable(f"DNSMOS: cannot open the ONNX models: {type(err).__name__}: {err}") from err

    @property
    def model(self) -> str:
        return (f"DNSMOS P.835 ({PRIMARY_MODEL[1]} from speechmos {package_version('speechmos')}, "
                f"onnxruntime {package_version('onnxruntime')}"
                + ("" if self.max_windows is None else
                   f"; first {self.max_windows} 9.01 s window{'s' if self.max_windows > 1 else ''} per clip"
                   " [reference: all, 1 s hop]") + ")")

    def score(self, ref: np.ndarray, deg: np.ndarray, ref_features: Any = None) -> dict[str, float]:
        """Scores ``deg`` only (non-intrusive); ``ref`` is ignored."""
        deg = check_signal(deg, "reconstruction", MIN_SAMPLES)
        if is_silent(deg):
            raise MetricInputError("DNSMOS: the signal is digital silence")
        if self._dnsmos is None:
            self.load()
        result = self._dnsmos.p835(np.clip(deg, -1.0, 1.0).astype(np.float32), SAMPLE_RATE)
        return {"dnsmos_ovrl": float(result["ovrl_mos"]), "dnsmos_sig": float(result["sig_mos"]),
                "dnsmos_bak": float(result["bak_mos"])}
