"""Metric registry: config name -> plug-in class (imported lazily; heavy models load in ``load()``)."""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from dscodec.errors import ConfigError
from dscodec.evaluate.metrics.base import Metric, MetricUnavailable

__all__ = ["Metric", "MetricUnavailable", "METRICS", "build_metric", "build_metrics"]

# name in config `evaluation.metrics` -> "module:Class"; each class takes the `evaluation` config section.
METRICS: dict[str, str] = {
    "pesq_wb": "dscodec.evaluate.metrics.pesq_metric:PesqWideband",
    "pesq_nb": "dscodec.evaluate.metrics.pesq_metric:PesqNarrowband",
    "stoi": "dscodec.evaluate.metrics.stoi_metric:Stoi",
    "vuv_f1": "dscodec.evaluate.metrics.pitch:VoicingF1",
    "speaker_sim": "dscodec.evaluate.metrics.speaker:SpeakerSimilarity",
    "utmos": "dscodec.evaluate.metrics.utmos:Utmos",
    "dnsmos": "dscodec.evaluate.metrics.dnsmos:Dnsmos",
    "wer": "dscodec.evaluate.metrics.wer:Wer",
}


def build_metric(name: str, eval_cfg: Mapping[str, Any]) -> Metric:
    """Instantiate (not load) one metric by its config name."""
    if name not in METRICS:
        raise ConfigError(f"evaluation.metrics: unknown metric {name!r}; known: {', '.join(METRICS)}")
    module, cls = METRICS[name].split(":")
    return getattr(importlib.import_module(module), cls)(eval_cfg)


def build_metrics(names: list[str], eval_cfg: Mapping[str, Any]) -> list[Metric]:
    return [build_metric(name, eval_cfg) for name in names]
