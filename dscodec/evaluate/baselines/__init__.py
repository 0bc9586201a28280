"""Reference-codec registry: config ``kind`` -> reconstructor class (imported lazily).

Each class is constructed as ``Cls(name, spec, cache_dir)`` where ``spec`` is the entry of
``evaluation.baselines`` in the config and ``cache_dir`` is where downloaded weights are kept.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping

from dscodec.errors import ConfigError
from dscodec.evaluate.baselines.base import BaselineUnavailable, CodecInfo, Reconstructor

__all__ = ["BaselineUnavailable", "CodecInfo", "Reconstructor", "KINDS", "build_baseline"]

KINDS: dict[str, str] = {
    "encodec": "dscodec.evaluate.baselines.encodec_codec:EncodecBaseline",
    "dac": "dscodec.evaluate.baselines.dac:DACBaseline",
    "wavtokenizer": "dscodec.evaluate.baselines.wavtokenizer:WavTokenizerBaseline",
    "bigcodec": "dscodec.evaluate.baselines.bigcodec:BigCodecBaseline",
    "opus": "dscodec.evaluate.baselines.classical:OpusCodec",
    "codec2": "dscodec.evaluate.baselines.classical:Codec2Codec",
}


def build_baseline(name: str, spec: Mapping[str, Any], cache_dir: str | Path) -> Reconstructor:
    """Instantiate (not load) the baseline called ``name`` in ``evaluation.baselines``."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"evaluation.baselines.{name}.kind: unknown kind {kind!r}; known: {', '.join(KINDS)}")
    module, cls = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), cls)(name, dict(spec), Path(cache_dir))

