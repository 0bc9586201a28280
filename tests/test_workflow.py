"""The Snakemake workflow parses, validates its config, and plans the expected jobs."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


def snakemake(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--cores", "1", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def test_dry_run_of_default_target(tmp_path: Path) -> None:
    proc = snakemake("-n", "reproduce_tables", "--config", f"results_dir={tmp_path / 'r'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "prepare_librispeech" in proc.stdout


@pytest.mark.parametrize("config", ["configs/ci.yaml", "configs/paper.yaml"])
def test_dry_run_of_shipped_configs(tmp_path: Path, config: str) -> None:
    proc = snakemake("-n", "reproduce_tables", "--configfile", str(REPO / config), "--config", f"results_dir={tmp_path / 'r'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bad_config_key_fails_naming_it(tmp_path: Path) -> None:
    proc = snakemake("-n", "--config", "seed=not-a-number", f"results_dir={tmp_path / 'r'}")
    assert proc.returncode != 0
    assert "`seed`" in proc.stdout + proc.stderr


def test_misspelled_key_in_configfile_fails_naming_it(tmp_path: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(f"results_dir: {tmp_path / 'r'}\ntrain:\n  stage1:\n    stpes: 5\n")
    proc = snakemake("-n", "--configfile", str(overlay))
    assert proc.returncode != 0
    assert "stpes" in proc.stdout + proc.stderr and "train.stage1" in proc.stdout + proc.stderr


def test_misspelled_model_override_fails_the_dry_run(tmp_path: Path) -> None:
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(f"results_dir: {tmp_path / 'r'}\nmodel:\n  overrides:\n    codebok_size: 512\n")
    proc = snakemake("-n", "--configfile", str(overlay))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "model.overrides.codebok_size" in out and "codebook_size" in out


def test_a_null_system_in_an_overlay_is_dropped_by_load_config_and_the_dry_run_alike(tmp_path: Path) -> None:
    """One merge path (issue 13 item 2): `systems: {name: null}` drops the system in the CLI's
    load_config and in the Snakefile. The dry run runs outside the checkout, so the default config
    must come from the package, not from configs/ under the working directory."""
    from dscodec.config import load_config

    overlay = tmp_path / "drop.yaml"
    overlay.write_text(f"results_dir: {tmp_path / 'r'}\nsystems:\n  apcodec_plus_pq: null\n")
    systems = load_config(overlay)["systems"]
    assert "apcodec_plus_pq" not in systems and "ds_codec_vq" in systems
    proc = snakemake("-n", "reproduce_tables", "--configfile", str(overlay), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "system=ds_codec_vq" in proc.stdout and "apcodec_plus_pq" not in proc.stdout + proc.stderr


def test_an_ablation_target_runs_only_what_it_needs(tmp_path: Path) -> None:
    proc = snakemake("-n", "ablation_vq_vs_pq", "--configfile", str(REPO / "configs/ci.yaml"),
                     "--config", f"results_dir={tmp_path / 'r'}", f"reports_dir={tmp_path / 'rep'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "system=ds_codec_vq" in proc.stdout and "system=ds_codec_pq" in proc.stdout
    assert "apcodec_plus_pq" not in proc.stdout and "baseline-" not in proc.stdout


def test_figure2_needs_no_evaluation(tmp_path: Path) -> None:
    proc = snakemake("-n", "ablation_mirror_vs_nonmirror", "--configfile", str(REPO / "configs/ci.yaml"),
                     "--config", f"results_dir={tmp_path / 'r'}", f"reports_dir={tmp_path / 'rep'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "train_stage1" in proc.stdout and "evaluate_" not in proc.stdout and "train_stage2" not in proc.stdout


def test_after_snakemake_itself_is_killed_unlock_then_rerun_incomplete_resumes(tmp_path: Path) -> None:
    """The README's recovery: kill -9 Snakemake (and its job) mid-job, as a power loss would; the
    rerun meets the stale lock; `--unlock` then `--rerun-incomplete` plans the killed job again.
    Snakemake runs in tmp_path (its .snakemake/ lock folder stays out of the checkout)."""
    import os
    import signal
    import time

    args = ["prepare_data", "--configfile", str(REPO / "configs" / "default.yaml"), str(REPO / "configs" / "ci.yaml"),
            "--config", f"results_dir={tmp_path / 'r'}"]
    proc = subprocess.Popen([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--cores", "1", *args],
                            cwd=tmp_path, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    incomplete = tmp_path / ".snakemake" / "incomplete"
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline and not (incomplete.is_dir() and any(incomplete.iterdir())):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the job it runs, at once
    proc.wait()
    if proc.returncode != -signal.SIGKILL or not any(incomplete.iterdir()):
        pytest.fail(f"the kill did not land while a job ran (returncode {proc.returncode})")

    locked = snakemake("-n", *args, cwd=tmp_path)
    assert "cannot be locked" in locked.stdout + locked.stderr, locked.stdout + locked.stderr
    unlock = snakemake("--unlock", *args, cwd=tmp_path)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    resume = snakemake("-n", "--rerun-incomplete", *args, cwd=tmp_path)
    out = resume.stdout + resume.stderr
    assert resume.returncode == 0 and "cannot be locked" not in out, out
    assert "synth_sample_corpus" in resume.stdout
