"""Tokens of an encoder computed once per test set and reused by every checkpoint that shares it.

Why: stage 2 trains the decoder only (paper Sec. 2.3: the encoder and quantizer of the mirror
model are kept, the decoder is switched and trained), so a stage-2 checkpoint's encoder and
quantizer weights equal those of the stage-1 checkpoint it grew from. In the default run 4 of the
7 DS-Codec evaluation jobs per test set re-encoded exactly what a stage-1 job had encoded
(~0.23 s of one core per 8 s utterance at `small`). Now the first job that encodes a batch
stores its tokens under ``<results_dir>/eval/_tokens/<testset>/<encoder key>/<batch sha>.npz``
and the others read them.

Exact, not approximate: an entry is keyed by everything the tokens are computed from:

* the encoder key (:func:`encoder_key`): every tensor of the encoder and quantizer as the codec
  runs them (names, dtypes, shapes, bytes), their module structure (``repr``: layer types,
  channels, kernels, strides, dilations), the chunking (frames per chunk, the encoder's context
  frames, hop), the device and the torch version;
* the batch: the SHA-256 of the exact samples encoded in one call (float32, shape included), so
  a stored entry is the output of the very same computation on the very same input. Jobs on one
  test set batch the same utterances together (the runner's chunks, equal lengths only), so the
  stage-2 job finds what the stage-1 job stored.

Entries carry that key and a checksum of their arrays (reference_cache.load_entry/store_entry):
a corrupt or foreign file is recomputed, never trusted; writes are atomic, so two jobs side by
side may both compute an entry and neither sees half a file. No job has to run first.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from dscodec.evaluate.reference_cache import load_entry, store_entry
from dscodec.fileio import sha256_chunks

FORMAT = 1   # bump when what an entry holds, or how the key is made, changes
WHAT = "token cache"


def encoder_key(codec: Any) -> str:
    """Identity of a `DSCodec`'s audio -> tokens computation (PyTorch backend), 32 hex digits."""
    import torch

    model = codec.model
    encoder, quantizer = model.encoder, model.quantizer

    def parts() -> Iterator[bytes]:
        yield json.dumps({
            "format": FORMAT, "torch": torch.__version__, "device": str(codec.device),
            "chunk_frames": int(codec.chunk_frames), "hop": int(encoder.hop_length),
            "context": [int(encoder.pre_context_frames), int(encoder.post_context_frames)],
            "encoder": repr(encoder), "quantizer": repr(quantizer),
        }, sort_keys=True).encode()
        for prefix, module in (("encoder", encoder), ("quantizer", quantizer)):
            for name, tensor in module.state_dict(keep_vars=False).items():
                array = tensor.detach().cpu().contiguous()
                yield f"{prefix}.{name}\0{array.dtype}\0{tuple(array.shape)}\0".encode()
                yield array.reshape(-1).view(torch.uint8).numpy().tobytes()  # 1-D: a 0-dim view would fail

    return sha256_chunks(parts())[:32]


def batch_digest(batch: np.ndarray) -> str:
    """SHA-256 of one encode call's input: its shape and float32 samples."""
    data = np.ascontiguousarray(batch, dtype=np.float32)
    return sha256_chunks((repr(data.shape).encode(), b"\0", data.tobytes()))


@dataclass(frozen=True)
class TokenCache:
    """Tokens of one encoder on one test set: `load(batch)` / `store(batch, tokens)`."""

    root: Path      # R/eval/_tokens/<testset>
    key: str        # encoder_key(codec)

    def path(self, digest: str) -> Path:
        return self.root / self.key / f"{digest[:32]}.npz"

    def load(self, batch: np.ndarray) -> np.ndarray | None:
        """The tokens stored for exactly this input, or None (absent or not trustworthy)."""
        digest = batch_digest(batch)
        tokens = load_entry(self.path(digest), self.key, digest, WHAT)
        if tokens is None or not isinstance(tokens, np.ndarray) or tokens.shape[:1] != batch.shape[:1]:
            return None
        return tokens

    def store(self, batch: np.ndarray, tokens: np.ndarray) -> None:
        digest = batch_digest(batch)
        store_entry(self.path(digest), self.key, digest, np.asarray(tokens), WHAT)
