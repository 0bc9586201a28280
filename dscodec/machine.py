"""Which machine a job ran on: recorded with every training summary and MLflow run."""
from __future__ import annotations

import os
import platform


def machine_description() -> str:
    """The processor (and GPUs) a job ran on, with torch's version, e.g.
    "Intel(R) Xeon(R) Processor, 2 CPUs; torch 2.9.1".

    Why: trainings on two CPU types diverge from their first steps (other float rounding in
    oneDNN's kernels), so the same commit and config give other models (benchmarks/RESULTS.md,
    "Default run", 2026-12-03); a run comparison must be able to see the machine."""
    import torch

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    parts = [f"{cpu or platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"]
    if torch.cuda.is_available():
        parts.append(", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
    return "; ".join(parts + [f"torch {torch.__version__}"])
