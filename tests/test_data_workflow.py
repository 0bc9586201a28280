"""Snakemake data targets: the planned jobs follow `data.<corpus>.source`, and prepare_data really runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import workflow_copy

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.usefixtures("checkout_untouched")


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A copy of the workflow files, so runs never lock or litter the checkout."""
    return workflow_copy(tmp_path)


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "snakemake"), "--cores", "2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def planned(proc: subprocess.CompletedProcess[str]) -> set[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line.split("rule ", 1)[1].rstrip(":") for line in proc.stdout.splitlines() if line.startswith("rule ")}


def test_dry_run_sample_corpus(workdir: Path) -> None:
    jobs = planned(snakemake(workdir, "-n", "prepare_data", "--config", f"results_dir={workdir / 'r'}"))
    assert jobs == {"synth_sample_corpus", "prepare_librispeech", "prepare_ljspeech", "prepare_data"}


def test_dry_run_download_and_local_sources(workdir: Path) -> None:
    overlay = workdir / "overlay.yaml"
    overlay.write_text(
        f"results_dir: {workdir / 'r'}\n"
        "data:\n"
        f"  librispeech: {{source: download, root: {workdir / 'ls'}}}\n"
        f"  ljspeech: {{source: local, root: {workdir / 'lj'}}}\n"
    )
    jobs = planned(snakemake(workdir, "-n", "prepare_data", "--configfile", str(overlay)))
    assert jobs == {"download_librispeech", "prepare_librispeech", "prepare_ljspeech", "prepare_data"}


@pytest.mark.slow
def test_list_of_bad_files_survives_a_failed_prepare_job(workdir: Path) -> None:
    """Too many bad files fail the job and Snakemake removes its outputs; the log copy keeps the list."""
    sys.path.insert(0, str(REPO / "tests"))
    from fixtures_data import add_bad_librispeech_files, build_librispeech

    corpus = workdir / "corpora"
    for subset, spk in (("train-clean-100", "19"), ("dev-clean", "84"), ("test-clean", "61")):
        build_librispeech(corpus, subset, {spk: {"198": 5 if subset == "train-clean-100" else 2}}, seconds=0.5)
    add_bad_librispeech_files(corpus, "train-clean-100")
    results = workdir / "r"
    overlay = workdir / "local.yaml"
    overlay.write_text(f"results_dir: {results}\ndata:\n  librispeech: {{source: local, root: {corpus}}}\n")
    kept = results / "logs" / "data" / "prepare_librispeech.report.json"

    failed = snakemake(workdir, "prepare_librispeech", "--configfile", str(overlay))
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert f"listed in {kept}" in out  # the error names the file that survives ...
    assert len(json.loads(kept.read_text())["bad_files"]) == 5  # ... and it holds the list

    lenient = workdir / "lenient.yaml"
    lenient.write_text("data:\n  max_bad_fraction: 0.5\n")
    passed = snakemake(workdir, "prepare_librispeech", "--configfile", str(overlay), str(lenient))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "5 bad file(s) skipped" in passed.stdout + passed.stderr  # on the console, not only in the log


@pytest.mark.slow
def test_prepare_data_runs_with_ci_config(workdir: Path) -> None:
    results = workdir / "results-ci"
    proc = snakemake(workdir, "prepare_data", "--configfile", "configs/ci.yaml", "--config", f"results_dir={results}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for corpus, splits in {"librispeech": ("train", "dev", "test"), "ljspeech": ("all", "eval")}.items():
        report = json.loads((results / "data" / corpus / "report.json").read_text())
        assert report["bad_files"] == []
        for split in splits:
            lines = (results / "data" / corpus / f"{split}.tsv").read_text().splitlines()
            assert lines[0].split("\t") == ["id", "path", "sample_rate", "frames", "speaker", "chapter", "text"]
            assert len(lines) > 1 and report["splits"][split]["utterances"] == len(lines) - 1
    synthesis = json.loads((results / "corpus" / "sample" / "synthesis.json").read_text())
    assert synthesis["minutes_requested"] == 2 and synthesis["distinct_voices"] >= 6
    # nothing changed -> nothing to do; a changed sample-corpus size re-runs the data jobs
    again = snakemake(workdir, "-n", "prepare_data", "--configfile", "configs/ci.yaml", "--config", f"results_dir={results}")
    assert planned(again) == set()
    overlay = workdir / "bigger.yaml"
    overlay.write_text(f"results_dir: {results}\ndata:\n  sample_corpus:\n    minutes: 3\n")
    changed = planned(snakemake(workdir, "-n", "prepare_data", "--configfile", "configs/ci.yaml", str(overlay)))
    assert {"synth_sample_corpus", "prepare_librispeech", "prepare_ljspeech"} <= changed
