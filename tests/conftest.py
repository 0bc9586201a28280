"""Shared pytest set-up: keep torch to one thread so parallel tests share the 2 cores fairly."""
from __future__ import annotations

import os
from typing import Iterator

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency, but keep config tests importable
    pass

import pytest
from workflow_copy import checkout_state


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (tests/test_cuda.py; skipped without one)")


@pytest.fixture(autouse=True)
def _isolated_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hermetic MLflow: mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which would otherwise
    carry one test's store into the next (and a developer's own store into the tests)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def checkout_untouched() -> Iterator[None]:
    """For modules that run Snakemake (`pytestmark = pytest.mark.usefixtures(...)`): their tests
    run it in a temporary copy (tests/workflow_copy.py), so `git status` of the checkout, ignored
    files included, must be the same after the module as before it (issue 13 item 8)."""
    before = checkout_state()
    yield
    left = sorted(checkout_state() - before)
    assert not left, f"the tests of this module changed the checkout: {left[:20]}"
