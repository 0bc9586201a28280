"""`dscodec export CKPT --format onnx [-o DIR]`: encoder/decoder graphs + codec.json for deployment."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a codec checkpoint as ONNX encoder/decoder graphs (dynamic length) with a codec.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="codec checkpoint (dscodec-ckpt-v1)")
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="export format (only onnx)")
    parser.add_argument("-o", "--output-dir", default=None,
                        help="folder to write (default: <checkpoint folder>/onnx)")


def run(args: argparse.Namespace) -> int:
    from dscodec.commands._paths import check_input_file
    from dscodec.errors import DSCodecError, OutputPathError
    from dscodec.models.checkpoint import load_codec
    from dscodec.onnx_export import export_onnx

    ckpt = check_input_file(args.checkpoint, DSCodecError)
    out = Path(args.output_dir) if args.output_dir else ckpt.parent / "onnx"
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{out}: exists and is not a folder")
    meta = export_onnx(load_codec(ckpt), out)
    print(f"{out}: encoder.onnx, decoder.onnx, codec.json (hop {meta['hop_length']}, {meta['sample_rate']} Hz, "
          f"codebook {meta['codebook_size']}, fingerprint {meta['fingerprint']})")
    return 0
