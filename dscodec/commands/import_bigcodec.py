"""`dscodec import-bigcodec`: BigCodec's released checkpoint as a system's stage-1 checkpoint.

The paper's DS-Codec-VQ starts stage 2 from BigCodec's released weights; with
`systems.<name>.init_from_bigcodec: <path>` the workflow runs this command instead of
training stage 1 (workflow/rules/bigcodec.smk). The conversion is strict
(dscodec/models/bigcodec_import.py): any mismatch is an error naming the tensor, and
nothing is written.
"""
from __future__ import annotations

import argparse

HELP = "convert BigCodec's released checkpoint into the stage-1 checkpoint of a DS-Codec-VQ system"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="resolved config (R/config.yaml): model size and systems")
    parser.add_argument("--system", required=True, help="a mirrored VQ system of the config (e.g. ds_codec_vq)")
    parser.add_argument("--checkpoint", default=None,
                        help="BigCodec's bigcodec.pt (default: the system's `init_from_bigcodec`)")
    parser.add_argument("--out", required=True, help="stage-1 checkpoint to write")


def run(args: argparse.Namespace) -> int:
    from dscodec.config import load_resolved
    from dscodec.errors import ConfigError
    from dscodec.models import get_size
    from dscodec.models.bigcodec_import import import_bigcodec
    from dscodec.train.stages import system_config

    config = load_resolved(args.config)
    spec = system_config(config, args.system)
    if spec["quantizer"] != "vq" or spec["stage1"] != "mirror":
        raise ConfigError(f"system {args.system!r}: BigCodec's weights fit a mirrored VQ stage 1 only "
                          f"(`quantizer: vq`, `stage1: mirror`), not {spec['quantizer']!r}/{spec['stage1']!r}")
    source = args.checkpoint or spec.get("init_from_bigcodec")
    if not source:
        raise ConfigError(f"system {args.system!r} sets no `init_from_bigcodec` and no --checkpoint was given")
    size = get_size(config["model"]["size"], config["model"].get("overrides"))
    out = import_bigcodec(source, size, args.out)
    print(f"dscodec import-bigcodec: {source} -> {out} (stage 1 of {args.system})", flush=True)
    return 0
