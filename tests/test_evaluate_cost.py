"""dscodec/evaluate/cost.py: what an evaluation job asks a cluster for."""
from __future__ import annotations

from pathlib import Path

import pytest

from dscodec.config import load_config
from dscodec.evaluate import cost

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper() -> dict:
    return load_config(REPO / "configs" / "default.yaml", REPO / "configs" / "paper.yaml")


@pytest.fixture(scope="module")
def default() -> dict:
    return load_config(REPO / "configs" / "default.yaml")


def test_only_a_dscodec_job_with_device_cuda_uses_a_gpu(paper: dict) -> None:
    assert cost.evaluates_on_cuda(paper, "dscodec")
    assert not cost.evaluates_on_cuda(paper, "baseline") and not cost.evaluates_on_cuda(paper, "ground_truth")
    for device in ("cpu", "auto"):
        assert not cost.evaluates_on_cuda({**paper, "device": device}, "dscodec")


def test_runtime_follows_utterances_workers_and_metrics(paper: dict, default: dict) -> None:
    n = cost.expected_utterances(paper, "librispeech_test")
    assert n == 2620 and cost.expected_utterances(paper, "librispeech_test", manifest_rows=100) == 100
    cap = default["evaluation"]["max_utterances"]
    assert cost.expected_utterances(default, "librispeech_test", manifest_rows=500) == cap  # max_utterances caps
    assert cost.expected_utterances(paper, "ljspeech_eval") == paper["data"]["ljspeech"]["eval_utterances"]
    one = cost.runtime_minutes(paper, "baseline", n, 1)
    eight = cost.runtime_minutes(paper, "baseline", n, 8)
    assert one > 4 * eight > 0
    assert cost.runtime_minutes(paper, "baseline", 2 * n, 8) > eight
    # CREPE full is the costliest metric: the tiny model makes the same job much shorter
    tiny = {**paper, "evaluation": {**paper["evaluation"], "crepe_model": "tiny"}}
    assert cost.runtime_minutes(tiny, "baseline", n, 8) < 0.5 * eight
    # the references skip the intrusive metrics
    assert cost.scoring_seconds(paper, "ground_truth") < cost.scoring_seconds(paper, "baseline")
    # a paper-size DS-Codec on a CPU reconstructs slower than on a GPU
    assert cost.reconstruct_seconds({**paper, "device": "cpu"}, "dscodec") > cost.reconstruct_seconds(paper, "dscodec")


def test_every_metric_has_a_cost() -> None:
    from dscodec.evaluate.metrics import METRICS

    assert set(METRICS) == set(cost.METRIC_SECONDS) | {"vuv_f1"}


def test_a_coarser_crepe_hop_and_fewer_dnsmos_windows_cost_less(paper: dict) -> None:
    base = cost.scoring_seconds(paper, "baseline")
    ev = paper["evaluation"]
    coarse = {**paper, "evaluation": {**ev, "crepe_hop_ms": 2 * (ev.get("crepe_hop_ms") or 10)}}
    one_window = {**paper, "evaluation": {**ev, "dnsmos_max_windows": 1}}
    assert cost.scoring_seconds(coarse, "baseline") < base
    assert cost.scoring_seconds(one_window, "baseline") < base
