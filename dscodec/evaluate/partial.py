"""The utterances an evaluation job has finished, kept on disk as it goes so a killed job resumes.

A job reconstructs its test set in chunks (runner.py); once every utterance of a chunk is scored
(or counted as a failure) the chunk's rows, failures, timings and the reconstructor's bit
accounting are written to `<out>/partial/chunk-NNNNNN.json`, atomically (temporary file +
rename: a kill leaves a whole file or none). `key.json` holds what the scores depend on; a
restart reuses the chunks only when its key is identical, and only the unbroken run of chunks
from the first one, so the bit accounting it restores covers exactly the reused utterances and
the resumed result equals an uninterrupted one. Anything else (other key, unreadable file) is
discarded: the job starts from zero, as before. The folder is removed once the job's outputs
are written.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

from dscodec.fileio import atomic_write_json, sha256_file

KEY_FILE = "key.json"
VERSION = 1


def file_digest(path: str | Path) -> str | None:
    """sha256 of a file (a checkpoint, a manifest); None when it does not exist."""
    path = Path(path)
    return sha256_file(path) if path.is_file() else None


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (exact: a float64 round-trips through JSON), else text."""
    return value.item() if hasattr(value, "item") else str(value)


class PartialScores:
    """Chunk records of one evaluation job under `folder`, valid for one `key`."""

    def __init__(self, folder: str | Path, key: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        self.key = json.loads(json.dumps({"version": VERSION, **key}, sort_keys=True, default=_plain))

    def _chunk_path(self, chunk: int) -> Path:
        return self.folder / f"chunk-{chunk:06d}.json"

    def resume(self) -> list[dict[str, Any]]:
        """The reusable chunk records, in order from chunk 0; prepares the folder for this run."""
        records: list[dict[str, Any]] = []
        try:
            stored = json.loads((self.folder / KEY_FILE).read_text())
        except (OSError, ValueError):
            stored = None
        if stored == self.key:
            while True:
                try:
                    records.append(json.loads(self._chunk_path(len(records)).read_text()))
                except (OSError, ValueError):
                    break
        # drop everything that is not reused (another key, chunks after a gap, temporary files)
        if self.folder.exists() and not records:
            shutil.rmtree(self.folder)
        elif self.folder.exists():
            keep = {KEY_FILE} | {self._chunk_path(i).name for i in range(len(records))}
            for path in self.folder.iterdir():
                if path.name not in keep:
                    path.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.folder / KEY_FILE, self.key, newline=False, default=_plain)
        return records

    def save(self, chunk: int, record: Mapping[str, Any]) -> None:
        atomic_write_json(self._chunk_path(chunk), record, newline=False, default=_plain)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
