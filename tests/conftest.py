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
