"""Evaluation (paper Sec. 3.2): reconstruct test sets with every system and baseline, score them.

Layout:
    metrics/            one plug-in per metric behind :class:`metrics.base.Metric`
    baselines/          one plug-in per reference codec behind :class:`baselines.base.Reconstructor`
    testsets.py         test-set manifests and the seeded, speaker-stratified subset (subset.py)
    align.py            delay compensation and length matching before scoring (Aligner: one job's policy)
    scoring.py          metrics loaded once per process, scoring in a worker pool
    reference_cache.py  reference-side features (pitch track, speaker embedding) once per test set
    stats.py            mean and 95% CI of a score column
    provenance.py       where a result came from (data, commit, config, checkpoint)
    partial.py          a job's finished utterances kept on disk as it goes, so a killed job resumes
    cost.py             seconds per utterance and job runtimes, for cluster resource requests
    runner.py           one (system, test set) job: reconstruct, score, write, log to MLflow
"""
