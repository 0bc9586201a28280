"""`dscodec` command line: one subcommand per pipeline step (the Snakemake rules call these).

Each subcommand lives in `dscodec/commands/<name>.py` and exposes `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Modules keep heavy imports (torch,
mlflow, ...) inside `run` so that `dscodec --help` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# explicit list (no discovery magic): subcommand name -> module under dscodec.commands
COMMANDS: dict[str, str] = {
    "synth-corpus": "synth_corpus",
    "prepare": "prepare",
    "train": "train",
    "import-bigcodec": "import_bigcodec",
    "evaluate": "evaluate",
    "report": "report",
    "encode": "encode",
    "decode": "decode",
    "model-info": "model_info",
    "export": "export",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dscodec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"dscodec.commands.{module_name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dscodec.errors import DSCodecError

    try:
        return int(args._run(args) or 0)
    except DSCodecError as err:
        print(f"dscodec {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
