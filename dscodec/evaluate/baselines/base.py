"""The one interface every system under test implements: 16 kHz waveform in, 16 kHz waveform out.

DS-Codec checkpoints, official neural-codec checkpoints (EnCodec, DAC, WavTokenizer, BigCodec)
and classical codecs (Opus, Codec2) all look the same to the evaluation runner. A reconstructor
whose weights or tools are absent raises :class:`BaselineUnavailable` from ``load()``; the
reports then list it as *not run* with that reason.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from dscodec.errors import AudioError, DSCodecError

SAMPLE_RATE = 16000


class BaselineUnavailable(DSCodecError):
    """Weights, package or system tool missing; the message is the reason shown in reports."""


def checked_waveform(name: str, wav: np.ndarray) -> torch.Tensor:
    """The runner's mono 16 kHz waveform as a float32 tensor [T], refused with a clear error when it
    is empty, multi-channel or non-finite (a neural codec would otherwise return garbage silently)."""
    x = torch.as_tensor(np.asarray(wav, dtype=np.float32))
    if x.ndim != 1 or x.numel() == 0:
        raise AudioError(f"{name}: expected a non-empty mono waveform [T], got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise AudioError(f"{name}: waveform contains NaN or infinite samples")
    return x


@dataclass(frozen=True)
class CodecInfo:
    """The Table 1 columns that describe a codec rather than its quality."""

    label: str                          # shown in tables, e.g. "EnCodec (1.5 kbps)"
    bitrate_kbps: float | None          # nominal bitrate; DS-Codec systems measure theirs from .dsc files
    tokens_per_second: float | None     # None for classical codecs
    n_codebooks: int | None             # "Nq" in Table 1; None for classical codecs
    native_sample_rate: int             # the codec's own rate; reconstructions are resampled to 16 kHz
    # Delay (samples at 16 kHz) the codec is known to add, e.g. Codec2's analysis window. The
    # runner then searches only around it (dscodec/evaluate/align.py: search_window); None =
    # unknown, searched over [0, 100 ms] as for any causal codec.
    nominal_delay_samples: int | None = None
    settings: str | None = None         # coding mode where it matters (Opus: VBR or CBR), in table footers


class Reconstructor(ABC):
    """Encode and decode one utterance; implementations resample to/from their native rate."""

    name: str = ""

    @property
    @abstractmethod
    def info(self) -> CodecInfo:
        """Static description for Table 1."""

    def load(self) -> None:
        """Load weights / find tools; raise BaselineUnavailable(reason) when impossible here."""

    @abstractmethod
    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        """``wav``: mono float32 [T] at 16 kHz in [-1, 1] -> mono float32 [T'] at 16 kHz.

        T' may differ from T (padding, codec delay); the runner aligns before scoring.
        """

    def accounting(self) -> dict[str, Any] | None:
        """Running totals a reconstructor keeps over the utterances it has reconstructed (bits
        spent, seconds); None when it keeps none. A resumed evaluation restores them."""
        return None

    def restore_accounting(self, state: Mapping[str, Any]) -> None:
        """Set the totals to those `accounting()` returned (resuming after a kill)."""
