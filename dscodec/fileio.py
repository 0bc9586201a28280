"""File I/O written once: SHA-256 digests, atomic writes and the one checkpoint reader.

Why one module: evaluation resumes, training checkpoints, run records, manifests and reports all
depend on "a kill leaves the old file or the new one, never half of one", and provenance and
caches on "the same bytes give the same digest". Each used to carry its own copy of these few
lines, with small differences (some fsync'd, some left a fixed-name temporary that two writers
could share). Light on purpose: torch is imported only by `read_checkpoint`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable

CHUNK = 1 << 20  # bytes hashed per read: large files are never held in memory whole

# Temporary siblings are `.<target name>.<8 random characters>.tmp` (mkstemp in the target's
# folder, so os.replace stays on one file system and is atomic on POSIX).
_TEMP_RANDOM = r"[a-z0-9_]{8}"  # mkstemp's random part (CPython's tempfile._RandomNameSequence)


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    """Hex SHA-256 of the concatenated `chunks` (structured content hashed piece by piece)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return sha256_chunks((data,))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    with open(path, "rb") as handle:
        return sha256_chunks(iter(lambda: handle.read(CHUNK), b""))


def temp_pattern(name: str) -> re.Pattern[str]:
    """The names atomic_write gives the temporaries of target `name` (for cleaning up after a kill)."""
    return re.compile(re.escape(f".{name}.") + _TEMP_RANDOM + re.escape(".tmp"))


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object], *, fsync: bool = False) -> Path:
    """Call `write` on a temporary sibling of `path`, then rename it onto `path`.

    A kill at any point leaves the previous file (or none) and at worst a `.<name>.XXXXXXXX.tmp`;
    a failed write removes its temporary and raises. The temporary name is unique, so concurrent
    writers of one target never share it. `fsync` flushes the data to disk before the rename
    (checkpoints: survive a power loss, not just a kill). Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    return atomic_write(path, lambda handle: handle.write(data), fsync=fsync)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """UTF-8 text, newlines written as given."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | Path, data: Any, *, newline: bool = True, **dumps: Any) -> Path:
    """`json.dumps(data, **dumps)`, with a final newline unless `newline` is False."""
    return atomic_write_text(path, json.dumps(data, **dumps) + ("\n" if newline else ""))


def read_checkpoint(path: str | Path, map_location: Any = "cpu", *, mmap: bool = False,
                    weights_only: bool = False) -> Any:
    """`torch.load` of a checkpoint file: the one place that reads them.

    Full unpickling by default (our training checkpoints hold RNG states): only read files you
    trust. `mmap` maps the tensors instead of reading them (a caller that wants only metadata),
    falling back to a plain read for legacy (non-zip) files, which cannot be mapped. Callers turn
    exceptions into their own error type, naming what the file was for.
    """
    import torch

    if mmap:
        try:
            return torch.load(path, map_location=map_location, weights_only=weights_only, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            pass
    return torch.load(path, map_location=map_location, weights_only=weights_only)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
