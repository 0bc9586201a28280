"""Many-file runs of `dscodec encode` / `decode`: input lists, output names, progress, failures.

Why a shared module: both commands take files, folders and a manifest TSV, write one output
per input under an output folder, and must treat a bad file the same way: report it, go
on, and exit non-zero at the end with the list. Each output is written to a temporary
name and renamed when complete, so a failure never leaves a half-written file and never
damages an output written earlier (or one from a previous run).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from dscodec.errors import ConfigError, OutputPathError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3", ".opus")
BITSTREAM_SUFFIXES = (".dsc",)


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


def read_manifest(path: str | Path) -> list[tuple[Path, Path]]:
    """(file, relative output stem) per line of a TSV whose first column is a path.

    Blank lines, `#` comments and a header whose first field is `path` are skipped.
    Relative paths are taken from the manifest's folder and keep their sub-folders in the output.
    """
    path = Path(path)
    if not path.is_file():
        raise OutputPathError(f"{path}: manifest not found")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        field = line.split("\t", 1)[0].strip()
        if not field or field.startswith("#") or (number == 1 and field.lower() == "path"):
            continue
        given = Path(field)
        entries.append((given if given.is_absolute() else path.parent / given,
                        Path(given.name) if given.is_absolute() else given))
    return entries


def collect_jobs(inputs: Iterable[str], manifest: str | None, out_dir: Path, suffixes: tuple[str, ...],
                 out_suffix: str) -> list[Job]:
    """One job per input file; folders contribute their files with `suffixes` (recursively, sorted).

    Output names keep the sub-folder layout under `out_dir`; two inputs that would write the
    same output are refused before anything runs.
    """
    pairs: list[tuple[Path, Path]] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            pairs.extend((p, p.relative_to(path)) for p in found)
        else:
            pairs.append((path, Path(path.name)))  # a missing file is reported as a failure when its turn comes
    if manifest:
        pairs.extend(read_manifest(manifest))
    jobs, seen = [], {}
    for source, rel in pairs:
        target = out_dir / rel.with_suffix(out_suffix)
        if target in seen:
            raise OutputPathError(f"{seen[target]} and {source} would both write {target}; rename one")
        seen[target] = source
        jobs.append(Job(source, target))
    return jobs


def prepare_out_dir(out_dir: Path) -> Path:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputPathError(f"{out_dir}: the output folder is not writable")
    return out_dir


def partial_path(target: Path) -> Path:
    """Where an output is written until it is complete (same folder, so the rename is atomic)."""
    return target.with_name(f".{target.name}.partial")


def set_threads(threads: int | None) -> None:
    """Use `threads` intra-op threads; None keeps torch's default (the machine's cores)."""
    if threads is None:
        return
    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _reason(err: Exception, source: Path) -> str:
    """The error's message without a leading copy of the file name (the report names the file)."""
    from dscodec.errors import DSCodecError

    message = str(err)
    if message.startswith(f"{source}: "):
        message = message[len(f"{source}: "):]
    return message if isinstance(err, DSCodecError) else f"{err.__class__.__name__}: {message}"


def run_jobs(jobs: list[Job], work: Callable[[Job], float], quiet: bool = False) -> int:
    """Run `work(job) -> audio seconds` over the jobs with a progress bar; 0, or 1 with failures listed."""
    from tqdm import tqdm

    failures: list[tuple[Path, str]] = []
    audio_s, busy_s = 0.0, 0.0
    with tqdm(total=len(jobs), unit="file", disable=quiet, file=sys.stderr, dynamic_ncols=True) as bar:
        for job in jobs:
            start = time.perf_counter()
            try:
                job.target.parent.mkdir(parents=True, exist_ok=True)
                audio_s += work(job)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
                failures.append((job.source, _reason(err, job.source)))
                partial_path(job.target).unlink(missing_ok=True)
                bar.write(f"failed: {job.source}: {failures[-1][1]}", file=sys.stderr)
            busy_s += time.perf_counter() - start
            bar.set_postfix(audio_s=f"{audio_s:.1f}", rtf=f"{busy_s / audio_s:.3f}" if audio_s else "-", refresh=False)
            bar.update(1)
    done = len(jobs) - len(failures)
    print(f"{done} of {len(jobs)} files done, {audio_s:.1f} s of audio in {busy_s:.1f} s "
          f"(RTF {busy_s / audio_s if audio_s else float('nan'):.3f})")
    if failures:
        print(f"{len(failures)} file(s) failed:", file=sys.stderr)
        for source, message in failures:
            print(f"  {source}: {message}", file=sys.stderr)
        return 1
    return 0


def add_codec_arguments(parser: Any) -> None:
    """The checkpoint and runtime options `encode` and `decode` share (one definition, one help text)."""
    parser.add_argument("--checkpoint", required=True, help="codec checkpoint, or an export folder with --backend onnx")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the cores available)")
    parser.add_argument("--chunk-seconds", type=float, default=10.0, help="model chunk length (memory bound)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def single_pair(args: Any, error: type[Exception]) -> tuple[str, Path]:
    """The `IN OUT` form shared by encode and decode: both paths checked before the model loads."""
    from dscodec.commands._paths import check_input_file, check_output_file

    if args.manifest or len(args.inputs) != 2:
        raise OutputPathError("give IN OUT for one file, or -o OUTPUT_DIR for several files, folders or --manifest")
    source, target = args.inputs
    if Path(source).is_dir():
        raise error(f"{source}: is a directory; give the file to read (or use -o OUTPUT_DIR for a folder)")
    check_input_file(source, error)
    check_output_file(target)  # before the model runs, not after
    return source, Path(target)


def load_codec(args: Any) -> Any:
    """The codec both commands run, from their shared options."""
    from dscodec.codec_api import DSCodec

    return DSCodec.from_checkpoint(args.checkpoint, device=args.device, chunk_seconds=args.chunk_seconds,
                                   backend=args.backend, threads=args.threads)
