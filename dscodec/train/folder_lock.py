"""One trainer per output folder: an exclusive lock on `<out>/.train.lock` naming its holder.

Why: when a Snakemake job's shell is killed, the trainer it started can survive; a rerun
would start a second trainer on the same folder and MLflow run, and both would write
`last.pt`. The lock is an fcntl.flock held for the trainer's lifetime, so the kernel
releases it when the holder dies, however it dies: a crash never blocks the folder. The
file also records the holder's PID and host, so a second trainer can say who holds it, and
a file left by a crashed holder is reported (stale lock, taken over with a warning).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import warnings
from pathlib import Path
from typing import Callable, Iterator

from dscodec.errors import TrainingError

LOCK_NAME = ".train.lock"


class FolderLockedError(TrainingError):
    """Another live process trains into the same output folder."""


def _holder(text: str) -> str:
    """'PID 123 on host' from the lock file's 'pid host' line (or what is there)."""
    parts = text.split()
    if not parts:
        return "an unknown process (empty lock file)"
    return f"PID {parts[0]}" + (f" on {parts[1]}" if len(parts) > 1 else "")


def _pid_alive(text: str) -> bool:
    parts = text.split()
    if not parts or not parts[0].isdigit():
        return False
    if len(parts) > 1 and parts[1] != socket.gethostname():
        return True  # another machine: cannot tell
    try:
        os.kill(int(parts[0]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_locked(path: Path) -> tuple[int, str]:
    """Open and flock `path` (non-blocking); return the fd and the text it held before.

    Retries when the file was replaced between open and flock (a holder removing it on exit),
    so two processes can never each lock a different inode of the same name."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            text = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderLockedError(
                    f"{path.parent} is being trained by {_holder(text)} (lock {path}); a second trainer would "
                    "overwrite its checkpoints. Stop that process first (or wait for it to finish), then rerun."
                ) from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, os.pread(fd, 200, 0).decode(errors="replace").strip()
        os.close(fd)


@contextlib.contextmanager
def folder_lock(folder: str | Path, warn: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the training lock of `folder` for the block; raise FolderLockedError if a live process holds it.

    A lock file left by a holder that died (kill -9, power loss) is taken over with a
    warning naming that PID. The file is removed when the block ends."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd, previous = _open_locked(path)
    try:
        if previous:
            state = "still running but not holding it" if _pid_alive(previous) else "no longer running"
            message = (f"{folder}: taking over a stale training lock left by {_holder(previous)} "
                       f"({state}; it probably crashed or was killed)")
            (warn or (lambda m: warnings.warn(m, stacklevel=3)))(message)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        os.fsync(fd)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)  # releases the flock
