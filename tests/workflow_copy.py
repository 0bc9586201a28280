"""Snakemake in tests runs on a temporary copy of the workflow, never in the checkout (issue 13
item 8): a run there leaves .snakemake/ (logs, locks, metadata) and, with a relative reports or
results folder, outputs in the tree. Import from tests: `from workflow_copy import ...`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What the workflow reads from its working directory; the dscodec package comes from the environment.
WORKFLOW_FILES = ("Snakefile", "workflow", "configs", "profiles")
# Written into the checkout by any test run (imports, pytest itself), not by Snakemake.
_NOT_LITTER = ("__pycache__/", ".pytest_cache/", ".egg-info/")


def workflow_copy(dest: Path, names: tuple[str, ...] = WORKFLOW_FILES) -> Path:
    """Copy the workflow files `names` into `dest` (created); returns `dest`, the working directory to run in."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def checkout_state() -> frozenset[str]:
    """`git status --porcelain` of the checkout, ignored and untracked files listed one by one (a
    Snakemake log under an existing .snakemake/ shows too); empty where git or the repo is missing."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    if proc.returncode != 0:
        return frozenset()
    return frozenset(line for line in proc.stdout.splitlines() if not any(part in line for part in _NOT_LITTER))
