"""`snakemake --lint` reports only the findings the Snakefile states as deliberate (issue 13 item 5),
so a new real finding fails here instead of hiding among the known ones. Runs in a workflow copy."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_copy import REPO, workflow_copy

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
pytestmark = pytest.mark.usefixtures("checkout_untouched")

CONDA = "Specify a conda environment or container for each rule."
OUTSIDE_VARIABLE = re.compile(r"^Shell command directly uses variable (\w+) from outside of the rule$")
# The common.smk names that shell commands use on purpose (the Snakefile's header says why).
DELIBERATE_VARIABLES = {"DSCODEC", "TRAIN_LAUNCHER", "RESOLVED_CONFIG", "R", "SAMPLE_CORPUS"}

HEADER = re.compile(r"^Lints for (rule|snakefile) (.+?)(?: \(line \d+, .*\))?:$")
FINDING = re.compile(r"^ {4}\* (.+):$")


def lint_findings(output: str) -> list[tuple[str, str]]:
    """(where, title) per finding of `snakemake --lint text`: a `Lints for ...` header, then one
    `    * <title>:` line per finding, each followed by a more indented explanation."""
    findings: list[tuple[str, str]] = []
    where = None
    for line in output.splitlines():
        header = HEADER.match(line)
        if header:
            where = f"{header.group(1)} {header.group(2)}"
            continue
        finding = FINDING.match(line)
        if finding:
            assert where is not None, f"a finding outside a `Lints for` block: {line!r}"
            findings.append((where, finding.group(1)))
    return findings


def is_deliberate(title: str) -> bool:
    variable = OUTSIDE_VARIABLE.match(title)
    return title == CONDA or (variable is not None and variable.group(1) in DELIBERATE_VARIABLES)


def test_the_parser_tells_deliberate_from_real_findings() -> None:
    output = ("Lints for snakefile /x/workflow/rules/common.smk:\n"
              "    * Mixed rules and functions in same snakefile.:\n      Small one-liner functions ...\n\n"
              "Lints for rule train_stage1 (line 24, /x/workflow/rules/train.smk):\n"
              f"    * {CONDA}:\n      This way, the used software ...\n"
              "    * Shell command directly uses variable DSCODEC from outside of the rule:\n      It is ...\n"
              "    * Shell command directly uses variable THREADS from outside of the rule:\n      It is ...\n")
    findings = lint_findings(output)
    assert [where for where, _ in findings] == ["snakefile /x/workflow/rules/common.smk", *["rule train_stage1"] * 3]
    assert [is_deliberate(title) for _, title in findings] == [False, True, True, False]


def test_lint_reports_only_the_deliberate_findings_the_snakefile_states(tmp_path: Path) -> None:
    """Linted with the default config and with paper.yaml: rules such as the downloads exist only
    when a config asks for them, so one config would leave them unlinted."""
    workdir = workflow_copy(tmp_path / "wf")
    findings: list[tuple[str, str]] = []
    for overlay in ([], ["--configfile", "configs/paper.yaml"]):
        proc = subprocess.run([SNAKEMAKE, "--lint", "text", *overlay, "--config", f"results_dir={tmp_path / 'r'}"],
                              cwd=workdir, capture_output=True, text=True, timeout=300)
        output = proc.stdout + proc.stderr
        assert proc.returncode in (0, 1), output[-3000:]  # 1: there are findings (the deliberate ones)
        assert any(title == CONDA for _, title in lint_findings(output)), output[-3000:]  # it linted the rules
        findings += lint_findings(output)
    assert any(where.startswith("rule download_") for where, _ in findings)
    real = sorted({f"{where}: {title}" for where, title in findings if not is_deliberate(title)})
    assert not real, "snakemake --lint found (fix it, or state it in the Snakefile's header):\n" + "\n".join(real)
    # the Snakefile states exactly the variables the lint reports, no more and no fewer
    used = {OUTSIDE_VARIABLE.match(title).group(1) for _, title in findings if OUTSIDE_VARIABLE.match(title)}
    assert used == DELIBERATE_VARIABLES
    header = (REPO / "Snakefile").read_text().split("min_version")[0]
    stated = header.split("(snakemake --lint) kept on purpose:", 1)[1]
    assert "conda/container" in stated
    assert all(re.search(rf"\b{name}\b", stated) for name in DELIBERATE_VARIABLES), stated
