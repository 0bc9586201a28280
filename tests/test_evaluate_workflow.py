"""workflow/rules/evaluate.smk: `evaluate_all` plans one job per (entity, test set), and stage 1 of a
`stage1_from` system reads the shared stage-1 checkpoint."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import workflow_copy

from dscodec.config import load_config
from dscodec.report import plan

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.usefixtures("checkout_untouched")


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A copy of the workflow files, so dry runs never lock or litter the checkout."""
    return workflow_copy(tmp_path)


def dry_run(cwd: Path, *targets: str) -> str:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([str(BIN / "snakemake"), "--cores", "2", "-n", "-p", *targets, "--configfile",
                           "configs/ci.yaml", "--config", f"results_dir={cwd / 'r'}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def job_counts(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_evaluate_all_plans_every_entity_on_every_testset(workdir: Path) -> None:
    cfg = load_config(REPO / "configs" / "ci.yaml")
    testsets = cfg["evaluation"]["testsets"]
    own_stage1 = plan.own_stage1(cfg["systems"])
    stdout = dry_run(workdir, "evaluate_all")
    counts = job_counts(stdout)
    assert counts["evaluate_system"] == (len(cfg["systems"]) + len(own_stage1)) * len(testsets)
    assert counts["evaluate_baseline"] == len(cfg["evaluation"]["baselines"]) * len(testsets)
    assert counts["evaluate_ground_truth"] == len(testsets)
    assert counts["evaluate_all"] == 1
    eval_dirs = set(re.findall(r"/eval/([^/\s]+)/(\w+)/summary\.json", stdout))
    expected = {(f"{name}-stage2", t) for name in cfg["systems"] for t in testsets}
    expected |= {(f"{name}-stage1", t) for name in own_stage1 for t in testsets}
    expected |= {(f"baseline-{name}", t) for name in cfg["evaluation"]["baselines"] for t in testsets}
    expected |= {("ground-truth", t) for t in testsets}
    assert eval_dirs == expected
    # shell commands call the CLI with the entity's flags and the rule's threads as workers
    assert "--baseline opus_6kbps" in stdout and "--ground-truth" in stdout
    assert re.search(r"evaluate --config \S+ --testset librispeech_test .*--system ds_codec_vq --stage 1", stdout)
    assert f"--workers {cfg['evaluation']['workers']}" in stdout


def test_stage1_of_a_shared_stage1_system_reads_the_source_checkpoint(workdir: Path) -> None:
    target = f"{workdir / 'r'}/eval/ds_codec_pq_2t-stage1/librispeech_test/summary.json"
    stdout = dry_run(workdir, target)
    job = stdout.split("rule evaluate_system:", 1)[1].split("\n\n", 1)[0]
    assert f"{workdir / 'r'}/models/ds_codec_pq/stage1/ckpt.pt" in job
    assert "ds_codec_pq_2t/stage1" not in job
