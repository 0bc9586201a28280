"""DAC 16 kHz (Kumar et al., 2023) with its first 1 or 8 codebooks, the paper's Table 1 baselines.

Weights: the official release ``weights_16khz.pth`` (tag 0.0.5; an audiotools file
``{"state_dict": ..., "metadata": {"kwargs": <DAC constructor arguments>}}``), loaded into
our re-implementation :mod:`dscodec.evaluate.baselines.ports.dac_model` with ``strict=True``. Lookup
order (see :mod:`~dscodec.evaluate.baselines.official_weights`): ``spec.checkpoint``, then
``cache_dir``, then ``~/.cache/descript/dac`` (where the official package caches it), then a
download of :data:`RELEASE` into ``cache_dir``.

Checksum: DAC publishes none. The pinned sha256 is the one recorded for this release asset by
an independent project that pins it (vokra's DAC parity tests); we have not downloaded the
file ourselves, so if it is ever wrong the loader refuses the file with both digests in the
message and ``spec.sha256`` overrides it.

Evaluation follows ``DAC.forward`` (not ``compress``): the whole utterance is encoded at once,
right-padded to the 320-sample hop, without DAC's -16 LUFS loudness normalisation; only the
first ``n_codebooks`` residual stages are used (the model has 12).

Table 1 columns are derived from the model, not copied: 16000 / 320 = 50 frames/s, 10 bits
per code, so Nq codebooks give 50 x Nq tokens/s and 0.5 x Nq kbps. Nq = 8 gives the paper's
4.0 kbps / 400 tokens/s; Nq = 1 gives 0.5 kbps / 50 tokens/s, while paper.md lists the
"1 codebook" DAC row as 1.0 kbps / 100 tokens/s -- a figure the 16 kHz model reaches only with
2 codebooks. We report what we run.
"""
from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from dscodec.errors import ConfigError
from dscodec.evaluate.baselines import official_weights as ow
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, CodecInfo
from dscodec.evaluate.baselines.ports.dac_model import DAC, DAC_16KHZ_KWARGS

RELEASE = ow.Release(
    label="DAC 16 kHz",
    url="https://github.com/descriptinc/descript-audio-codec/releases/download/0.0.5/weights_16khz.pth",
    filename="weights_16khz_8kbps_0.0.5.pth",  # the name dac.utils.download gives it in ~/.cache/descript/dac
    sha256="95ab7176b67137d4d4c6c54b8d6ef3cea797faec228cb03ad084badcad570b4d",
    sha256_source="as recorded for release 0.0.5 by an independent project; DAC publishes no checksum",
)
OFFICIAL_CACHE = Path("~/.cache/descript/dac")
NATIVE_RATE = 16000
MAX_CODEBOOKS = DAC_16KHZ_KWARGS["n_codebooks"]


def _frame_rate() -> float:
    return NATIVE_RATE / math.prod(DAC_16KHZ_KWARGS["encoder_rates"])


def _bits_per_code() -> float:
    return math.log2(DAC_16KHZ_KWARGS["codebook_size"])


def build_dac(kwargs: Mapping[str, Any]) -> DAC:
    """Construct from release metadata, dropping training-only arguments as audiotools' loader does."""
    accepted = inspect.signature(DAC).parameters
    return DAC(**{k: v for k, v in kwargs.items() if k in accepted})


class DACBaseline(ow.OfficialWeightsBaseline):
    """DAC 16 kHz; ``spec``: ``n_codebooks`` (1..12), optional ``checkpoint`` and ``sha256``."""

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path) -> None:
        super().__init__(name, spec, cache_dir)
        n = self.spec.get("n_codebooks")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CODEBOOKS:
            raise ConfigError(f"evaluation.baselines.{name}.n_codebooks: an integer 1..{MAX_CODEBOOKS}, got {n!r}")
        self.n_codebooks = n
        self.model: DAC | None = None

    @property
    def info(self) -> CodecInfo:
        frames = _frame_rate()
        return CodecInfo(label=f"DAC 16 kHz ({self.n_codebooks} codebook{'s' if self.n_codebooks > 1 else ''})",
                         bitrate_kbps=frames * _bits_per_code() * self.n_codebooks / 1000,
                         tokens_per_second=frames * self.n_codebooks, n_codebooks=self.n_codebooks,
                         native_sample_rate=NATIVE_RATE)

    def load(self) -> None:
        located = ow.locate(RELEASE, self.name, self.spec, self.cache_dir, extra_dirs=[OFFICIAL_CACHE])
        blob = ow.load_file(located, RELEASE.label)
        path = located.path
        if not isinstance(blob, Mapping) or "state_dict" not in blob:
            raise BaselineUnavailable(f"{path}: not a DAC release file (expected a dict with 'state_dict' and "
                                      f"'metadata', found {type(blob).__name__})")
        kwargs = dict(DAC_16KHZ_KWARGS)
        kwargs.update(((blob.get("metadata") or {}).get("kwargs") or {}))
        if kwargs.get("sample_rate") != NATIVE_RATE or int(kwargs.get("n_codebooks", 0)) < self.n_codebooks:
            raise BaselineUnavailable(f"{path}: a DAC model with sample_rate={kwargs.get('sample_rate')} and "
                                      f"{kwargs.get('n_codebooks')} codebooks, not the 16 kHz model this baseline "
                                      f"needs (>= {self.n_codebooks} codebooks)")
        model = build_dac(kwargs)
        ow.load_strict(model, blob["state_dict"], path, RELEASE.label)
        self.model = model.eval()
        self.checkpoint_path = path

    @torch.inference_mode()
    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        x = self.loaded_and_checked(wav)
        assert self.model is not None
        assert NATIVE_RATE == SAMPLE_RATE  # no resampling needed for the 16 kHz model
        y, _ = self.model(x[None, None], self.n_codebooks)
        return y[0, 0].numpy().astype(np.float32)
