"""The paper's "Ground truth" row (Tables 1 and 2): the reference recordings scored as they are.

Only the non-intrusive metrics (UTMOS, DNSMOS) mean something for this row; intrusive ones
(PESQ, STOI, V/UV F1) would compare a signal with itself, and the paper prints "-" for them.
All codec columns are ``None`` (shown as "-"), as in the paper: the references are 16-bit PCM
at 16 kHz (256 kbps), but that is a storage format, not a point on the codec bitrate axis.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dscodec.errors import AudioError
from dscodec.evaluate.baselines.base import SAMPLE_RATE, CodecInfo, Reconstructor


class GroundTruth(Reconstructor):
    """Identity reconstructor; constructed like the registry's baselines, ``Cls(name, spec, cache_dir)``."""

    def __init__(self, name: str = "ground_truth", spec: Mapping[str, Any] | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.name = name
        self.spec = dict(spec or {})

    @property
    def info(self) -> CodecInfo:
        return CodecInfo(label="Ground truth", bitrate_kbps=None, tokens_per_second=None, n_codebooks=None,
                         native_sample_rate=SAMPLE_RATE)

    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1:
            raise AudioError(f"expected a mono waveform [T], got shape {wav.shape}")
        return wav.copy()
