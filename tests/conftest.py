"""Shared pytest set-up: keep torch to one thread so parallel tests share the 2 cores fairly."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a hard dependency, but keep config tests importable
    pass

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (tests/test_cuda.py; skipped without one)")


@pytest.fixture(autouse=True)
def _isolated_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hermetic MLflow: mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which would otherwise
    carry one test's store into the next (and a developer's own store into the tests)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
