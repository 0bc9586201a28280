"""Evaluation (paper Sec. 3.2): reconstruct test sets with every system and baseline, score them.

Layout:
    metrics/    one plug-in per metric behind :class:`metrics.base.Metric`
    baselines/  one plug-in per reference codec behind :class:`baselines.base.Reconstructor`
    align.py    delay compensation and length matching before scoring
    runner.py   one (system, test set) job: reconstruct, score, write, log to MLflow
"""
