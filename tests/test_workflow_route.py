"""The cluster route (issue 12): every documented snakemake command passes a dry run, a dry run
writes nothing, downloads are local rules, and the sbatch lines the SLURM profile produces ask
for what each job needs. Everything runs in a temporary copy of the workflow."""
from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import REPO, workflow_copy

from dscodec.config import load_config
from dscodec.evaluate import cost

pytestmark = pytest.mark.usefixtures("checkout_untouched")
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
# Where commands are documented: README, the Snakefile and rule comments, the profiles and their README.
DOCS = ["README.md", "Snakefile", "profiles/README.md", "profiles/slurm/config.yaml",
        *(str(p.relative_to(REPO)) for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))]
HAS_SLURM_PLUGIN = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
NO_SLURM_PLUGIN = "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"


def documented_commands() -> list[tuple[str, str, str | None]]:
    """(source, command, documented error or None) for each `snakemake ...` command in DOCS: lines
    that start with it (after `#` or indentation) and `...`-quoted spans in prose. A trailing
    `# -> message` documents a command that must fail with that message."""
    found: dict[str, tuple[str, str | None]] = {}
    for doc in DOCS:
        for line in (REPO / doc).read_text().splitlines():
            candidates = re.findall(r"`(snakemake [^`]*)`", line)
            start = re.match(r"^\s*#?\s*(snakemake\s.*)$", line)
            if start:
                candidates.append(start.group(1))
            for text in candidates:
                command, _, comment = text.partition("#")
                command = command.strip()
                if "..." in command or "<" in command:
                    continue  # a placeholder, not a runnable command
                error = comment.strip()[2:].split(":")[0].strip() if comment.strip().startswith("->") else None
                found.setdefault(command, (doc, error))
    return [(doc, command, error) for command, (doc, error) in found.items()]


def same_dry_run(command: str) -> tuple[str, ...]:
    """Commands that differ only in --cores or -n are the same dry run."""
    args = shlex.split(command)
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--cores":
            skip = True
        elif arg not in ("-n", "--dry-run"):
            out.append(arg)
    return tuple(out)


def dry_run(workdir: Path, command: str, results: Path) -> subprocess.CompletedProcess[str]:
    args = shlex.split(command)
    assert args[0] == "snakemake"
    args[0] = SNAKEMAKE
    if "-n" not in args and "--dry-run" not in args:
        args.insert(1, "-n")
    if "--config" in args:  # one --config takes several KEY=VALUE: ours goes last, so it wins
        at = args.index("--config") + 1
        while at < len(args) and not args[at].startswith("-"):
            at += 1
        args.insert(at, f"results_dir={results}")
    else:
        args += ["--config", f"results_dir={results}"]
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)


def test_the_docs_document_the_routes_that_matter() -> None:
    """The extraction finds what the dry-run test must cover (so that test cannot pass empty)."""
    commands = {command for _, command, _ in documented_commands()}
    assert any("--workflow-profile profiles/slurm" in c and "configs/paper.yaml" in c for c in commands), commands
    assert any(c.startswith("snakemake --cores all reproduce_tables") for c in commands)
    assert sum(1 for *_, error in documented_commands() if error) >= 1


@pytest.mark.slow
def test_every_documented_command_dry_runs_and_writes_nothing(tmp_path: Path) -> None:
    workdir = workflow_copy(tmp_path / "wf")
    jobs, seen = [], set()
    for i, (doc, command, error) in enumerate(documented_commands()):
        if ("slurm" in command and not HAS_SLURM_PLUGIN) or same_dry_run(command) in seen:
            continue
        seen.add(same_dry_run(command))
        jobs.append((doc, command, error, tmp_path / f"results{i}"))
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda job: dry_run(workdir, job[1], job[3]), jobs))
    for (doc, command, error, results), proc in zip(jobs, procs):
        output = proc.stdout + proc.stderr
        if error:
            assert proc.returncode != 0 and error in output, f"{doc}: {command}\n{output[-3000:]}"
        else:
            assert proc.returncode == 0, f"{doc}: {command}\n{output[-3000:]}"
            # `--unlock` (README, "After a kill") runs no jobs, dry run or not: it must just unlock
            done = ("Unlocked working directory",) if "--unlock" in command else ("This was a dry-run", "Nothing to be done")
            assert any(text in output for text in done), f"{doc}: {command}\n{output[-3000:]}"
        # a dry run writes nothing under the results folder (not even the resolved config.yaml)
        assert not results.exists(), f"{doc}: {command} wrote {sorted(results.rglob('*'))[:5]}"


def test_a_dry_run_leaves_an_existing_resolved_config_alone(tmp_path: Path) -> None:
    workdir = workflow_copy(tmp_path / "wf")
    results = tmp_path / "r"
    results.mkdir()
    stale = results / "config.yaml"
    stale.write_text("# written by an earlier run with another config\n")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    proc = dry_run(workdir, "snakemake -n prepare_data --configfile configs/ci.yaml", results)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert stale.read_text() == "# written by an earlier run with another config\n"
    assert stale.stat().st_mtime == 1_000_000_000
    assert sorted(p.name for p in results.iterdir()) == ["config.yaml"]


def test_downloads_are_local_rules(tmp_path: Path) -> None:
    """Parsed with the Snakemake API, as `snakemake` parses it (paper.yaml downloads both corpora)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    workdir = workflow_copy(tmp_path / "wf")
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with SnakemakeApi(OutputSettings()) as api:
            workflow_api = api.workflow(
                resource_settings=ResourceSettings(cores=1), snakefile=workdir / "Snakefile", workdir=workdir,
                config_settings=ConfigSettings(configfiles=[workdir / "configs" / "paper.yaml"],
                                               config={"results_dir": str(tmp_path / "r")}))
            workflow_api.dag()
            workflow = workflow_api._workflow  # the parsed workflow; no public accessor
            names = {rule.name for rule in workflow.rules}
            local = set(workflow._localrules)
    finally:
        os.chdir(cwd)
    assert {"download_librispeech", "download_ljspeech"} <= names
    assert {"download_librispeech", "download_ljspeech"} <= local
    assert not local & {"train_stage1", "train_stage2", "evaluate_system", "prepare_librispeech"}
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- sbatch lines, with a fake sbatch
FAKE_SBATCH = """#!/bin/sh
printf '%s\\n' "$*" >> "$SBATCH_LOG"
echo "fake sbatch: nothing submitted" >&2
exit 1
"""


def _touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SLURM_PLUGIN, reason=NO_SLURM_PLUGIN)
def test_sbatch_lines_request_what_each_job_needs(tmp_path: Path) -> None:
    workdir = workflow_copy(tmp_path / "wf")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text(FAKE_SBATCH)
    (fake / "sacctmgr").write_text("#!/bin/sh\necho CHANGE_ME\n")  # the profile's account placeholder
    for tool in fake.iterdir():
        tool.chmod(0o755)
    r = tmp_path / "r"
    n_test = 2620  # LibriSpeech test-clean, as configs/paper.yaml scores it
    # Upstream outputs exist (oldest first), so exactly the jobs below are ready to submit.
    for corpus in ("librispeech", "ljspeech"):
        _touch(r / "data" / corpus / "download.json", "{}")
    os.utime(r / "data" / "librispeech" / "download.json", (1e9, 1e9))
    os.utime(r / "data" / "ljspeech" / "download.json", (1e9, 1e9))
    header = "id\tpath\tsample_rate\tframes\tspeaker\tchapter\ttext\n"
    _touch(r / "data/librispeech/test.tsv", header + "u\tu.flac\t16000\t1\ts\tc\tt\n" * n_test)
    for rel in ("data/librispeech/train.tsv", "data/librispeech/dev.tsv", "data/librispeech/report.json",
                "data/ljspeech/all.tsv", "data/ljspeech/eval.tsv", "data/ljspeech/report.json"):
        _touch(r / rel, header)
    for rel in ("models/ds_codec_vq/stage1/ckpt.pt", "models/ds_codec_vq/stage1/train_summary.json"):
        _touch(r / rel, "x")
        os.utime(r / rel, None)
    targets = [r / "models/ds_codec_pq/stage1/ckpt.pt", r / "models/ds_codec_vq/stage2/ckpt.pt",
               r / "eval/ds_codec_vq-stage1/librispeech_test/summary.json",
               r / "eval/baseline-opus_6kbps/librispeech_test/summary.json",
               r / "eval/ground-truth/librispeech_test/summary.json"]
    log = tmp_path / "sbatch.log"
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               SBATCH_LOG=str(log))
    proc = subprocess.run([SNAKEMAKE, "--workflow-profile", "profiles/slurm", "--keep-going", "--restart-times", "0",
                           "--latency-wait", "1", *map(str, targets), "--configfile", "configs/paper.yaml",
                           "--config", f"results_dir={r}"],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert log.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = {re.search(r"--comment rule_(\w+?)_wildcards", line).group(1): line.split(" --wrap=")[0]
             for line in log.read_text().splitlines()}
    assert set(lines) == {"train_stage1", "train_stage2", "evaluate_system", "evaluate_baseline",
                          "evaluate_ground_truth"}, lines

    cfg = load_config(REPO / "configs" / "default.yaml", REPO / "configs" / "paper.yaml")
    workers = cfg["evaluation"]["workers"]

    def flags(rule: str) -> list[str]:
        return shlex.split(lines[rule])

    for rule in ("train_stage1", "train_stage2"):  # 2 GPUs in one task: torchrun starts the processes
        f = flags(rule)
        assert f"--gpus={cfg['train']['gpus']}" in f and f[f.index("-p") + 1] == "gpu", lines[rule]
        assert not any(x.startswith("--ntasks-per-gpu") for x in f), lines[rule]
    system = flags("evaluate_system")  # device: cuda -> reconstructs on one GPU
    assert "--gpus=1" in system and system[system.index("-p") + 1] == "gpu", lines["evaluate_system"]
    assert not any(x.startswith("--ntasks-per-gpu") for x in system)
    for rule, kind in (("evaluate_system", "dscodec"), ("evaluate_baseline", "baseline"),
                       ("evaluate_ground_truth", "ground_truth")):
        f = flags(rule)
        assert f"--cpus-per-task={workers}" in f
        assert int(f[f.index("-t") + 1]) == cost.runtime_minutes(cfg, kind, n_test, workers)
    for rule in ("evaluate_baseline", "evaluate_ground_truth"):  # scored on CPUs: no GPU, CPU partition
        f = flags(rule)
        assert not any(x.startswith("--gpus") for x in f) and f[f.index("-p") + 1] == "cpu", lines[rule]
    # hours, not the former fixed 27 minutes, for 2,620 utterances with CREPE full and WER
    assert int(system[system.index("-t") + 1]) > 4 * 60
