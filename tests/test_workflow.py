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
