"""Provenance of an evaluation result: which data, code, config and checkpoint produced it.

Written into every summary.json so that a number in a table can be traced back without MLflow
(the report footers quote it); kept apart from the job so the job reads as a pipeline.
"""
from __future__ import annotations

from typing import Any, Mapping

from dscodec.config import config_hash
from dscodec.evaluate.baselines.base import Reconstructor
from dscodec.evaluate.testsets import subset_seed


def provenance(cfg: Mapping[str, Any], reconstructor: Reconstructor, kind: str, stage: int | None) -> dict[str, Any]:
    """summary["provenance"]: corpus sources, git commit, config hashes, subset; checkpoint for DS-Codec."""
    from dscodec.tracking import git_commit

    data = cfg["data"]
    prov: dict[str, Any] = {
        "corpus_sources": {name: data[name]["source"] for name in ("librispeech", "ljspeech")},
        "git_commit": git_commit(),
        "config_hash": config_hash(dict(cfg)),
        "evaluation_config_hash": config_hash(cfg["evaluation"]),
        "max_utterances": cfg["evaluation"].get("max_utterances"),
        "subset_seed": subset_seed(cfg),
    }
    if kind == "dscodec":
        meta = dict(getattr(reconstructor, "metadata", {}) or {})
        prov["model_size"] = meta.get("model_size") or cfg["model"]["size"]
        prov["checkpoint"] = meta.get("checkpoint")
        prov["training_steps"] = {"checkpoint_step": meta.get("step"),
                                  "configured_steps": cfg["train"][f"stage{stage}"]["steps"] if stage else None}
        prov["num_parameters"] = meta.get("num_parameters")
    extra = getattr(reconstructor, "provenance", None)
    if isinstance(extra, Mapping):
        prov["reconstructor"] = dict(extra)
    return prov

