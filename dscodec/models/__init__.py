"""DS-Codec models: size presets, encoder, decoders, the codec and the discriminators.

The presets (`dscodec.models.sizes`) import no torch, and the codec classes load on first use
(PEP 562): validating a config (every CLI command, every Snakemake parse) reads the presets only,
and a job that never builds a model (a baseline that writes *not run*) need not import torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dscodec.models.sizes import PRESETS, ModelSize, get_size

if TYPE_CHECKING:
    from dscodec.models.codec import CodecModel, CodecOutput

__all__ = ["CodecModel", "CodecOutput", "ModelSize", "PRESETS", "get_size"]


def __getattr__(name: str) -> Any:
    if name in ("CodecModel", "CodecOutput"):
        from dscodec.models import codec

        return getattr(codec, name)
    raise AttributeError(f"module 'dscodec.models' has no attribute {name!r}")
