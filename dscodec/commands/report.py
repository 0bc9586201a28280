"""`dscodec report`: build one report target (tables, figures, listening page) or the reports index."""
from __future__ import annotations

import argparse

HELP = "build a report target (table1, table2, table3, figure2, ...) from evaluations and MLflow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dscodec.report.plan import TARGETS

    parser.add_argument("--config", required=True, help="resolved config (<results_dir>/config.yaml)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--target", choices=TARGETS, help="what to build")
    group.add_argument("--index", action="store_true", help="write <reports_dir>/README.md linking everything built")
    group.add_argument("--summary", action="store_true",
                       help="print where the reports are, Table 1's headline rows and the MLflow UI command")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the outputs as a report run")


def run(args: argparse.Namespace) -> int:
    from dscodec.config import load_resolved
    from dscodec.report.build import build_index, build_target
    from dscodec.tracking import git_commit

    cfg = load_resolved(args.config)
    if args.summary:
        from dscodec.report.summary import summary_text

        print(summary_text(cfg))
        return 0
    if args.index:
        paths = [build_index(cfg, git_commit())]
        name = "index"
    else:
        paths = build_target(cfg, args.target)
        name = args.target
    for path in paths:
        print(f"report {name}: wrote {path}")
    if not args.no_mlflow:
        from dscodec import tracking

        with tracking.start_run(cfg, f"report-{name}", {"job": "report", "target": name}):
            for path in paths:
                tracking.log_artifact(path, artifact_path=f"report/{path.parent.name}")
    return 0
