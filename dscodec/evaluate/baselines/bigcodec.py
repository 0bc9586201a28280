"""BigCodec (Xin et al., 2024), 16 kHz, one 8192-entry codebook at 80 tokens/s: Table 1's 1.04 kbps baseline.

Weights: the official ``bigcodec.pt`` from the Hugging Face repo ``Alethia/BigCodec`` (linked
from the official README), a dict with the encoder state under ``"CodecEnc"`` and the decoder
(quantizer + generator) state under ``"generator"``, exactly as the official ``inference.py``
reads it. It is loaded with ``strict=True`` into :mod:`dscodec.evaluate.baselines.ports.bigcodec_model`.
Lookup: ``spec.checkpoint``, then ``cache_dir``, then a download of :data:`RELEASE` into
``cache_dir`` (see :mod:`~dscodec.evaluate.baselines.official_weights`).

Checksum: the pinned sha256 is the one an independent project pins for this file (a BigCodec
port that verifies the official checkpoint before use); we have not downloaded the file
ourselves, so a mismatch is reported with both digests and ``spec.sha256`` overrides it.

Inference follows the official ``inference.py``: pad with ``200 - T % 200`` zeros (a full hop
even when T is aligned), encode, quantise, decode; we then trim to T. Table 1 columns come
from the architecture: 16000 / 200 = 80 frames/s x log2(8192) = 13 bits = 1.04 kbps, Nq = 1.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from dscodec.evaluate.baselines import official_weights as ow
from dscodec.evaluate.baselines.base import SAMPLE_RATE, BaselineUnavailable, CodecInfo
from dscodec.evaluate.baselines.ports.bigcodec_model import DECODER_KWARGS, ENCODER_KWARGS, CodecDecoder, CodecEncoder

RELEASE = ow.Release(
    label="BigCodec",
    url="https://huggingface.co/Alethia/BigCodec/resolve/main/bigcodec.pt",
    filename="bigcodec.pt",
    sha256="1fba3806e87cc01c1a65bea22fa1becefbbf46881e4219593c4d9f3cf56206b9",
    sha256_source="as pinned for Alethia/BigCodec bigcodec.pt by an independent project",
)
NATIVE_RATE = 16000
ENCODER_KEY, DECODER_KEY = "CodecEnc", "generator"   # top-level keys read by the official inference.py


def _hop() -> int:
    return math.prod(ENCODER_KWARGS["up_ratios"])


class BigCodecBaseline(ow.OfficialWeightsBaseline):
    """BigCodec; ``spec``: optional ``checkpoint`` and ``sha256``."""

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path) -> None:
        super().__init__(name, spec, cache_dir)
        self.encoder: CodecEncoder | None = None
        self.decoder: CodecDecoder | None = None

    @property
    def info(self) -> CodecInfo:
        frames = NATIVE_RATE / _hop()
        n_q = DECODER_KWARGS["vq_num_quantizers"]
        bits = math.log2(DECODER_KWARGS["codebook_size"])
        return CodecInfo(label="BigCodec", bitrate_kbps=frames * bits * n_q / 1000, tokens_per_second=frames * n_q,
                         n_codebooks=n_q, native_sample_rate=NATIVE_RATE)

    def load(self) -> None:
        located = ow.locate(RELEASE, self.name, self.spec, self.cache_dir)
        blob = ow.load_file(located, RELEASE.label)
        path = located.path
        if not isinstance(blob, Mapping) or ENCODER_KEY not in blob or DECODER_KEY not in blob:
            found = sorted(map(str, blob))[:8] if isinstance(blob, Mapping) else type(blob).__name__
            raise BaselineUnavailable(f"{path}: not a BigCodec checkpoint (expected keys {ENCODER_KEY!r} and "
                                      f"{DECODER_KEY!r}, found {found})")
        encoder, decoder = CodecEncoder(**ENCODER_KWARGS), CodecDecoder(**DECODER_KWARGS)
        ow.load_strict(encoder, blob[ENCODER_KEY], path, f"BigCodec encoder ({ENCODER_KEY})")
        ow.load_strict(decoder, blob[DECODER_KEY], path, f"BigCodec decoder ({DECODER_KEY})")
        self.encoder, self.decoder = encoder.eval(), decoder.eval()
        self.checkpoint_path = path

    @torch.inference_mode()
    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        x = self.loaded_and_checked(wav)
        assert self.encoder is not None and self.decoder is not None
        assert NATIVE_RATE == SAMPLE_RATE
        hop = _hop()
        padded = F.pad(x, (0, hop - x.numel() % hop))[None, None]
        quantized, _codes = self.decoder.quantize(self.encoder(padded))
        y = self.decoder(quantized)[0, 0, : x.numel()]
        return y.numpy().astype(np.float32)
