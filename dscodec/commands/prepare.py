"""`dscodec prepare`: manifests + data report for LibriSpeech or LJSpeech (sample, local or downloaded)."""
from __future__ import annotations

import argparse

HELP = "check a corpus and write its manifests (TSV) and report.json; --download-only fetches the archives"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="resolved config (<results_dir>/config.yaml)")
    parser.add_argument("--corpus", required=True, choices=["librispeech", "ljspeech"])
    parser.add_argument("--out", required=True, help="output folder, e.g. <results_dir>/data/librispeech")
    parser.add_argument("--workers", type=int, default=1, help="threads that decode/check audio files")
    parser.add_argument("--report-copy", default=None,
                        help="also write report.json here, outside the job's outputs (Snakemake keeps it, as a log, "
                             "when the job fails on too many bad files); errors then point at this copy")
    parser.add_argument("--download-only", action="store_true",
                        help="only download, verify and extract the archives (source: download); writes download.json")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dscodec.config import load_resolved
    from dscodec.data.prepare import fetch, prepare
    from dscodec.errors import DataError

    cfg = load_resolved(args.config)
    if args.download_only:
        if cfg["data"][args.corpus]["source"] != "download":
            raise DataError(f"--download-only needs `data.{args.corpus}.source: download`")
        print(f"prepare: archives ready, see {fetch(cfg, args.corpus, Path(args.out))}")
        return 0
    report = prepare(cfg, args.corpus, args.out, workers=max(1, args.workers), report_copy=args.report_copy)
    for note in report.get("notes", []):
        print(f"prepare {args.corpus}: note: {note}")
    print(f"prepare {args.corpus}: {len(report['bad_files'])} bad file(s) skipped; "
          f"see {args.report_copy or Path(args.out) / 'report.json'}")
    return 0
