"""Read training histories back from MLflow (the figures are built from the tracked runs).

Why MLflow and not the checkpoint folders: every number in a figure should be one that a
researcher can also open in the MLflow UI, under the same run.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import pandas as pd


def find_run(cfg: Mapping[str, Any], system: str, stage: int, kind: str = "train") -> Optional[str]:
    """Latest finished run id for (system, stage) in the config's experiment, or None."""
    import mlflow

    from dscodec.config import use_tracking_uri

    use_tracking_uri(cfg)
    experiment = mlflow.get_experiment_by_name(cfg["experiment"])
    if experiment is None:
        return None
    runs = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.system = '{system}' and tags.stage = '{stage}' and tags.job = '{kind}'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    if runs.empty:
        return None
    finished = runs[runs["status"] == "FINISHED"]
    chosen = finished if not finished.empty else runs
    return str(chosen.iloc[0]["run_id"])


def metric_history(cfg: Mapping[str, Any], run_id: str, key: str) -> pd.DataFrame:
    """Columns step, value (sorted by step); empty when the run never logged `key`."""
    import mlflow

    from dscodec.config import tracking_uri

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri(cfg))
    history = client.get_metric_history(run_id, key)
    frame = pd.DataFrame({"step": [m.step for m in history], "value": [m.value for m in history]})
    return frame.sort_values("step").drop_duplicates("step", keep="last").reset_index(drop=True)
