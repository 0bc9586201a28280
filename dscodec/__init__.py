"""dscodec: a reproducible pipeline for DS-Codec (Chen et al., INTERSPEECH 2025).

The codec API (`DSCodec`) is imported lazily so that light tools (config
validation, data preparation) do not pay for importing the model stack.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["DSCodec", "__version__"]


def __getattr__(name: str):
    if name == "DSCodec":
        from dscodec.codec_api import DSCodec

        return DSCodec
    raise AttributeError(name)
