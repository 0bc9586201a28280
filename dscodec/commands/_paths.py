"""Path checks the encode/decode commands run before loading the model.

Why: a model pass over a long file can take minutes; a typo in the output folder should
cost nothing and say what is wrong, not end in a traceback after the work is done.
"""
from __future__ import annotations

import os
from pathlib import Path

from dscodec.errors import OutputPathError


def check_input_file(path: str | Path, error: type[Exception]) -> Path:
    """The input must be an existing file; a folder is named as such (not "not found")."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory; give the file to read")
    if not path.exists():
        raise error(f"{path}: file not found")
    return path


def check_output_file(path: str | Path) -> Path:
    """The output's folder must exist and be writable, and the output must not be a folder."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a directory; give a file name for the output")
    folder = path.parent
    if not folder.is_dir():
        raise OutputPathError(f"{path}: the output folder does not exist: {folder} (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: the output folder is not writable: {folder}")
    return path
