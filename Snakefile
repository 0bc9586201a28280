# DS-Codec reproduction pipeline.
#   snakemake --cores all reproduce_tables                           # embedded default (synthetic corpus, CPU)
#   snakemake --cores all reproduce_tables --configfile configs/ci.yaml
#   snakemake --cores all reproduce_tables --configfile configs/paper.yaml   # the paper's recipe, GPUs
# The Snakefile only wires things: all logic lives in the `dscodec` package (see workflow/rules/);
# where files live is dscodec/layout.py, the names the rule files share are in common.smk.
#
# Findings of Snakemake's linter (snakemake --lint) kept on purpose:
#   - no conda/container directive: every job runs in the one pip environment of pyproject.toml;
#   - shell commands use DSCODEC, TRAIN_LAUNCHER, RESOLVED_CONFIG, R and SAMPLE_CORPUS from common.smk:
#     they say where the environment and the results live, not what a job computes; as `params`
#     they would be rerun triggers (a rebuilt environment or a moved checkout would retrain every model).
# Any other finding is real: tests/test_workflow_lint.py fails on it.
from snakemake.utils import min_version

from dscodec.config import load_config, write_if_changed, config_hash

min_version("8.0")


# One merge for the Snakefile and the CLI (dscodec.config.load_config): the packaged default
# (dscodec/resources/default.yaml, found through the package, not the working directory), then each
# --configfile in order, then --config. No `configfile:` directive: Snakemake's own merge would turn
# an overlay's `systems: {name: null}` into a None system where load_config drops it.
# Fails at once, naming the misspelled or mistyped key (dscodec/resources/config.schema.yaml).
_resolved = load_config(*workflow.config_settings.configfiles, overrides=dict(workflow.config_settings.config))
config.clear()
config.update(_resolved)

# One id for every job of this invocation, tagged on each MLflow run (tags.pipeline_run) so the UI
# can filter or group one reproduce_tables; jobs inherit it through the environment.
import os as _os
from dscodec.tracking import PIPELINE_RUN_ENV, new_pipeline_run_id

_os.environ.setdefault(PIPELINE_RUN_ENV, new_pipeline_run_id())


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/bigcodec.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule reproduce_tables:
    """Everything the paper reports: data -> training -> evaluation -> tables, figures, listening page."""
    default_target: True
    input:
        rules.prepare_data.input,
        rules.train_all.input,
        rules.evaluate_all.input,
        rules.report_index.output,


# Every job reads the same resolved config (RESOLVED_CONFIG, common.smk); it is rewritten only when
# the config changes, and only by the main Snakemake process when it is about to run jobs (`onstart`
# is skipped by a dry run: `snakemake -n` writes nothing; cluster jobs re-read the Snakefile but
# never rewrite the file). Parsing the Snakefile writes no file.
onstart:
    write_if_changed(config, RESOLVED_CONFIG)


onsuccess:
    # The end of a run that built the reports: where they are, Table 1's headline, how to open MLflow
    # (dscodec/report/summary.py; `dscodec report --summary` prints it again).
    from dscodec.report.summary import print_summary_if_built

    print_summary_if_built(config)
