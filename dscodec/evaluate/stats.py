"""Statistics of a score column: the mean and its 95% confidence interval (paper tables: mean ± CI)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def mean_ci95(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and half-width of its 95% Student-t interval; (None, None) without values, CI None for n=1."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return None, None
    mean = float(x.mean())
    if x.size < 2:
        return mean, None
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, float(stats.t.ppf(0.975, x.size - 1) * sem)
