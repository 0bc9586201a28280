"""End-to-end: `reproduce_tables` on configs/ci.yaml in a temporary directory (the whole DAG).
Snakemake runs in a temporary copy of the workflow (its .snakemake/ stays out of the checkout).

Runs every rule once (synthetic corpus -> manifests -> both training stages of every system ->
evaluation of systems, baselines and references -> tables, figures, listening page), then checks
what a reader of the reports relies on, and that a rerun with nothing changed does nothing.

The run uses `--cores 8` on a fresh results folder: up to 8 jobs write to one MLflow SQLite
store at once (on any machine, whatever its cores), and every job's run must be there exactly once.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from workflow_copy import REPO, workflow_copy

from dscodec.config import load_config
from dscodec.report import plan

SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
METRIC_KEYS = ["utmos", "pesq_wb", "pesq_nb", "stoi", "vuv_f1", "speaker_sim", "dnsmos_ovrl"]
pytestmark = pytest.mark.usefixtures("checkout_untouched")


def _workdir(tmp: Path) -> Path:
    """The run's workflow copy: one per run, so the rerun sees the first run's .snakemake/ metadata."""
    return tmp / "workflow"


def _snakemake(tmp: Path, *args: str, cores: int = 2) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    workdir = _workdir(tmp)
    return subprocess.run(
        [SNAKEMAKE, "--snakefile", str(workdir / "Snakefile"), "--cores", str(cores), "reproduce_tables",
         "--configfile", str(workdir / "configs" / "ci.yaml"),
         "--config", f"results_dir={tmp / 'results'}", f"reports_dir={tmp / 'reports'}", *args],
        cwd=workdir, capture_output=True, text=True, timeout=3000, env=env,
    )


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("e2e")
    workflow_copy(_workdir(tmp))
    proc = _snakemake(tmp, "--show-failed-logs", cores=8)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-8000:]
    # issue 15: the run ends with the summary (reports, Table 1 headline, the MLflow UI command)
    assert "DS-Codec reproduction finished." in proc.stdout and "mlflow ui --backend-store-uri" in proc.stdout, \
        proc.stdout[-4000:]
    cfg = load_config(REPO / "configs" / "ci.yaml", overrides={
        "results_dir": str(tmp / "results"), "reports_dir": str(tmp / "reports")})
    return tmp, cfg


def test_every_table_has_a_row_per_configured_entity_with_numbers_or_reasons(ci_run) -> None:
    tmp, cfg = ci_run
    for name, spec in plan.tables(cfg).items():
        folder = "ablations" if name.startswith("vq_vs_pq") else "tables"
        for ext in ("md", "tex", "csv"):
            assert (tmp / "reports" / folder / f"{name}.{ext}").is_file(), f"{name}.{ext} missing"
        frame = pd.read_csv(tmp / "reports" / folder / f"{name}.csv")
        assert len(frame) == len(spec.entities), name
        for _, row in frame.iterrows():
            for key in METRIC_KEYS:
                mean, note = row[f"{key}_mean"], row[f"{key}_note"]
                has_number = pd.notna(mean) and float(mean) == float(mean)
                # "failed": the metric ran and failed on every utterance (e.g. the 10-step CI model's
                # near-silent output leaves no speech for the speaker model) — a stated reason too
                has_reason = isinstance(note, str) and note.split(":")[0] in ("unavailable", "not run", "failed")
                assert has_number != has_reason, f"{name} / {row['system']} / {key}: {mean!r} {note!r}"
    table1 = pd.read_csv(tmp / "reports" / "tables" / "table1.csv")
    for name, system in cfg["systems"].items():
        row = table1[table1["system"] == system["label"]]
        assert len(row) == 1, name
        # DS-Codec systems are always scored with the metrics that need no downloaded model
        for key in ("pesq_wb", "stoi"):
            assert pd.notna(row.iloc[0][f"{key}_mean"]), (name, key)
        assert row.iloc[0]["kbps_mean"] > 0


def test_figures_and_listening_page_exist(ci_run) -> None:
    tmp, _ = ci_run
    for stem in ("figure2", "bitrate_vs_quality", "training_curves_stage1", "training_curves_stage2",
                 "codebook_usage_vq_vs_pq"):
        for ext in ("png", "pdf"):
            path = tmp / "reports" / "figures" / f"{stem}.{ext}"
            assert path.is_file() and path.stat().st_size > 1000, path
    figure2 = pd.read_csv(tmp / "reports" / "figures" / "figure2.csv")
    assert set(figure2["metric"]) == {"vq_loss", "quant_mse"} and len(figure2) > 0
    page = (tmp / "reports" / "listen" / "index.html").read_text()
    assert "<audio" in page
    index = (tmp / "reports" / "README.md").read_text()
    assert "Table 1" in index and "figure2.png" in index


def test_mlflow_holds_training_evaluation_and_report_runs(ci_run) -> None:
    import mlflow

    tmp, cfg = ci_run
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'results' / 'mlflow' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[cfg["experiment"]], max_results=1000)
    jobs = runs["tags.job"].value_counts().to_dict()
    own_stage1 = plan.own_stage1(cfg["systems"])
    assert jobs.get("train") == len(own_stage1) + len(cfg["systems"])
    assert jobs.get("eval", 0) >= len(cfg["systems"]) * len(cfg["evaluation"]["testsets"])
    assert jobs.get("report", 0) >= len(plan.available_targets(cfg))
    assert (runs["status"] == "FINISHED").all()


def test_every_parallel_job_has_exactly_one_mlflow_run(ci_run) -> None:
    """Under `--cores 8` each training and evaluation job's run is in the store once (none lost
    to a locked database, none doubled by a retry), and it is the run the job's summary names."""
    import mlflow

    tmp, cfg = ci_run
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'results' / 'mlflow' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[cfg["experiment"]], max_results=1000)
    results = tmp / "results"
    for job, pattern, keys in (("train", "models/*/stage*/train_summary.json", ["tags.system", "tags.stage"]),
                               ("eval", "eval/*/*/summary.json", ["tags.system", "tags.stage", "tags.testset"])):
        summaries = sorted(results.glob(pattern))
        assert summaries, pattern
        named = [json.loads(path.read_text()).get("mlflow_run_id") for path in summaries]
        mine = runs[runs["tags.job"] == job]
        assert len(mine) == len(summaries), (job, len(mine), len(summaries))
        assert not mine.duplicated(keys).any(), mine[keys][mine.duplicated(keys, keep=False)]
        assert sorted(named) == sorted(mine["run_id"]), job
    reports = runs[runs["tags.job"] == "report"]
    assert not reports["tags.target"].duplicated().any()


def test_rerun_with_nothing_changed_does_nothing(ci_run) -> None:
    tmp, _ = ci_run
    proc = _snakemake(tmp, "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
