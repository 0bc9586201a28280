"""The Snakemake workflow parses, validates its config, and plans the expected jobs. Every run is
in a temporary copy of the workflow (tests/workflow_copy.py), never in the checkout."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import workflow_copy

SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
pytestmark = pytest.mark.usefixtures("checkout_untouched")


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """The workflow files copied to a temporary folder: Snakemake's working directory."""
    return workflow_copy(tmp_path / "wf")


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Snakemake on the Snakefile in `cwd` (a workflow copy), one core."""
    return subprocess.run(
        [SNAKEMAKE, "--snakefile", str(cwd / "Snakefile"), "--cores", "1", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def test_dry_run_of_default_target(tmp_path: Path, workdir: Path) -> None:
    proc = snakemake("-n", "reproduce_tables", "--config", f"results_dir={tmp_path / 'r'}", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "prepare_librispeech" in proc.stdout


@pytest.mark.parametrize("config", ["configs/ci.yaml", "configs/paper.yaml"])
def test_dry_run_of_shipped_configs(tmp_path: Path, workdir: Path, config: str) -> None:
    proc = snakemake("-n", "reproduce_tables", "--configfile", str(workdir / config),
                     "--config", f"results_dir={tmp_path / 'r'}", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bad_config_key_fails_naming_it(tmp_path: Path, workdir: Path) -> None:
    proc = snakemake("-n", "--config", "seed=not-a-number", f"results_dir={tmp_path / 'r'}", cwd=workdir)
    assert proc.returncode != 0
    assert "`seed`" in proc.stdout + proc.stderr


def test_misspelled_key_in_configfile_fails_naming_it(tmp_path: Path, workdir: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(f"results_dir: {tmp_path / 'r'}\ntrain:\n  stage1:\n    stpes: 5\n")
    proc = snakemake("-n", "--configfile", str(overlay), cwd=workdir)
    assert proc.returncode != 0
    assert "stpes" in proc.stdout + proc.stderr and "train.stage1" in proc.stdout + proc.stderr


def test_misspelled_model_override_fails_the_dry_run(tmp_path: Path, workdir: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(f"results_dir: {tmp_path / 'r'}\nmodel:\n  overrides:\n    codebok_size: 512\n")
    proc = snakemake("-n", "--configfile", str(overlay), cwd=workdir)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "model.overrides.codebok_size" in out and "codebook_size" in out


def test_a_null_system_in_an_overlay_is_dropped_by_load_config_and_the_dry_run_alike(tmp_path: Path) -> None:
    """One merge path (issue 13 item 2): `systems: {name: null}` drops the system in the CLI's
    load_config and in the Snakefile. The dry run runs in a copy of the Snakefile and workflow/ only,
    so the default config must come from the package, not from configs/ under the working directory."""
    from dscodec.config import load_config

    overlay = tmp_path / "drop.yaml"
    overlay.write_text(f"results_dir: {tmp_path / 'r'}\nsystems:\n  apcodec_plus_pq: null\n")
    systems = load_config(overlay)["systems"]
    assert "apcodec_plus_pq" not in systems and "ds_codec_vq" in systems
    workdir = workflow_copy(tmp_path / "wf", ("Snakefile", "workflow"))
    proc = snakemake("-n", "reproduce_tables", "--configfile", str(overlay), cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "system=ds_codec_vq" in proc.stdout and "apcodec_plus_pq" not in proc.stdout + proc.stderr


def test_an_ablation_target_runs_only_what_it_needs(tmp_path: Path, workdir: Path) -> None:
    proc = snakemake("-n", "ablation_vq_vs_pq", "--configfile", str(workdir / "configs/ci.yaml"),
                     "--config", f"results_dir={tmp_path / 'r'}", f"reports_dir={tmp_path / 'rep'}", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "system=ds_codec_vq" in proc.stdout and "system=ds_codec_pq" in proc.stdout
    assert "apcodec_plus_pq" not in proc.stdout and "baseline-" not in proc.stdout


def test_figure2_needs_no_evaluation(tmp_path: Path, workdir: Path) -> None:
    proc = snakemake("-n", "ablation_mirror_vs_nonmirror", "--configfile", str(workdir / "configs/ci.yaml"),
                     "--config", f"results_dir={tmp_path / 'r'}", f"reports_dir={tmp_path / 'rep'}", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "train_stage1" in proc.stdout and "evaluate_" not in proc.stdout and "train_stage2" not in proc.stdout


def test_after_snakemake_itself_is_killed_unlock_then_rerun_incomplete_resumes(tmp_path: Path, workdir: Path) -> None:
    """The README's recovery: kill -9 Snakemake (and its job) mid-job, as a power loss would; the
    rerun meets the stale lock; `--unlock` then `--rerun-incomplete` plans the killed job again.
    Snakemake runs in a workflow copy (its .snakemake/ lock folder stays out of the checkout)."""
    import os
    import signal
    import time

    configs = workdir / "configs"
    args = ["prepare_data", "--configfile", str(configs / "default.yaml"), str(configs / "ci.yaml"),
            "--config", f"results_dir={tmp_path / 'r'}"]
    proc = subprocess.Popen([SNAKEMAKE, "--snakefile", str(workdir / "Snakefile"), "--cores", "1", *args],
                            cwd=workdir, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    incomplete = workdir / ".snakemake" / "incomplete"
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and not (incomplete.is_dir() and any(incomplete.iterdir())):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the job it runs, at once
    proc.wait()
    if proc.returncode != -signal.SIGKILL or not any(incomplete.iterdir()):
        pytest.fail(f"the kill did not land while a job ran (returncode {proc.returncode})")

    locked = snakemake("-n", *args, cwd=workdir)
    assert "cannot be locked" in locked.stdout + locked.stderr, locked.stdout + locked.stderr
    unlock = snakemake("--unlock", *args, cwd=workdir)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    resume = snakemake("-n", "--rerun-incomplete", *args, cwd=workdir)
    out = resume.stdout + resume.stderr
    assert resume.returncode == 0 and "cannot be locked" not in out, out
    assert "synth_sample_corpus" in resume.stdout
