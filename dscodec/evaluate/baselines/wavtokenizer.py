"""WavTokenizer (Ji et al., 2024, arXiv:2408.16532), 24 kHz, one 4096-entry codebook at 75 tokens/s:
Table 1's 0.9 kbps baseline (and Table 2's).

Weights: the official ``WavTokenizer_small_320_24k_4096.ckpt`` from the Hugging Face repo
``novateur/WavTokenizer`` -- the 75 tokens/s small model that the official README pairs with the
``wavtokenizer_smalldata_frame75_3s_nq1_code4096_dim512_kmeans200_attn.yaml`` config (its sibling
``..._600_24k_4096.ckpt`` is the 40 tokens/s model, hop 600). It is a PyTorch Lightning checkpoint;
as the official ``WavTokenizer.from_pretrained0802`` does, we take ``blob["state_dict"]``, keep the
``feature_extractor.``, ``backbone.`` and ``head.`` keys (discriminators and loss buffers are dropped)
and load them with ``strict=True`` into :mod:`dscodec.evaluate.baselines.ports.wavtokenizer_model`.
Lookup: ``spec.checkpoint``, then ``cache_dir``, then a download of :data:`RELEASE` into
``cache_dir`` (see :mod:`~dscodec.evaluate.baselines.official_weights`).

Checksum: neither the WavTokenizer README nor any independent project we could read pins a
sha256 for this file, so none is pinned here (``sha256=None``): a download is accepted by size
and loadability alone and its digest is not checked; set ``spec.sha256`` to pin it. Without a
pinned digest the file is opened with ``torch.load(weights_only=True)`` only, never fully unpickled
(an independent converter of these release files opens them that way; if a file needs more, the
error says to configure it or set its ``sha256``).

Inference follows the official README/``infer.py``: resample to 24 kHz, ``encode_infer`` (SEANet
encoder, first codebook only), ``decode`` with ``bandwidth_id = 0``, no loudness normalisation;
the 75 Hz x 320 output is trimmed to the input length and resampled back to 16 kHz. Table 1
columns come from the architecture: 24000 / 320 = 75 frames/s x log2(4096) = 12 bits = 0.9 kbps.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from dscodec.audio import resample
from dscodec.evaluate.baselines import official_weights as ow
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, CodecInfo
from dscodec.evaluate.baselines.ports.wavtokenizer_model import WAVTOKENIZER_75_KWARGS, WavTokenizer

RELEASE = ow.Release(
    label="WavTokenizer",
    url="https://huggingface.co/novateur/WavTokenizer/resolve/main/WavTokenizer_small_320_24k_4096.ckpt",
    filename="WavTokenizer_small_320_24k_4096.ckpt",
    sha256=None,
    sha256_source="no published checksum; set evaluation.baselines.<name>.sha256 to pin one",
)
NATIVE_RATE = 24000
GENERATOR_PREFIXES = ("feature_extractor.", "backbone.", "head.")  # kept by the official from_pretrained0802
CODEBOOK_KEY = "feature_extractor.encodec.quantizer.vq.layers.0._codebook"
HEAD_KEY = "head.out.weight"
MODEL_KWARGS: dict = WAVTOKENIZER_75_KWARGS


def generator_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The inference network's entries of a Lightning ``state_dict`` (GAN discriminators, losses dropped)."""
    return {k: v for k, v in state.items() if isinstance(k, str) and k.startswith(GENERATOR_PREFIXES)}


class WavTokenizerBaseline(ow.OfficialWeightsBaseline):
    """WavTokenizer-small, 75 tokens/s; ``spec``: optional ``checkpoint`` and ``sha256``."""

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path) -> None:
        super().__init__(name, spec, cache_dir)
        self.model: WavTokenizer | None = None

    @property
    def info(self) -> CodecInfo:
        frames = NATIVE_RATE / math.prod(MODEL_KWARGS["ratios"])
        n_q = MODEL_KWARGS["num_quantizers"]
        bits = math.log2(MODEL_KWARGS["codebook_size"])
        return CodecInfo(label="WavTokenizer", bitrate_kbps=frames * bits * n_q / 1000, tokens_per_second=frames * n_q,
                         n_codebooks=n_q, native_sample_rate=NATIVE_RATE)

    def load(self) -> None:
        located = ow.locate(RELEASE, self.name, self.spec, self.cache_dir)
        blob = ow.load_file(located, RELEASE.label)
        path = located.path
        if not isinstance(blob, Mapping) or not isinstance(blob.get("state_dict"), Mapping):
            found = sorted(map(str, blob))[:8] if isinstance(blob, Mapping) else type(blob).__name__
            raise BaselineUnavailable(f"{path}: not a WavTokenizer Lightning checkpoint (expected a 'state_dict' "
                                      f"entry, found {found})")
        state = generator_state(blob["state_dict"])
        self._check_release(state, path)
        model = WavTokenizer(**MODEL_KWARGS)
        ow.load_strict(model, state, path, "WavTokenizer (75 tokens/s)")
        self.model = model.eval()
        self.checkpoint_path = path

    @staticmethod
    def _check_release(state: Mapping[str, Any], path: Path) -> None:
        """Name the two ways a real-but-wrong file fails, before strict loading lists raw key errors."""
        head = state.get(HEAD_KEY)
        expected_fft = MODEL_KWARGS["n_fft"]
        if isinstance(head, torch.Tensor) and head.ndim == 2 and head.shape[0] - 2 != expected_fft:
            n_fft = head.shape[0] - 2
            hop = n_fft // 4  # every WavTokenizer release uses n_fft = 4 x hop
            raise BaselineUnavailable(
                f"{path}: a WavTokenizer with n_fft={n_fft} (hop {hop}, {NATIVE_RATE / hop:g} tokens/s, e.g. the "
                f"_600_ release), not the 75 tokens/s model (n_fft={expected_fft}) this baseline evaluates")
        inited = state.get(f"{CODEBOOK_KEY}.inited")
        if isinstance(inited, torch.Tensor) and inited.numel() == 1 and not bool(inited.item()):
            # the official forward would k-means-initialise the codebook on the input audio instead
            raise BaselineUnavailable(f"{path}: its codebook was never initialised ({CODEBOOK_KEY}.inited = 0); "
                                      "not a trained WavTokenizer checkpoint")

    @torch.inference_mode()
    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        x = self.loaded_and_checked(wav)
        assert self.model is not None
        x24 = resample(x, SAMPLE_RATE, NATIVE_RATE)
        y24, _codes = self.model(x24[None])
        y = resample(y24[0], NATIVE_RATE, SAMPLE_RATE)[: x.numel()]
        return y.numpy().astype(np.float32)
