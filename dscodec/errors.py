"""Errors that the CLI reports as one clear line (exit code 2) instead of a traceback."""
from __future__ import annotations


class DSCodecError(Exception):
    """Base class for user-facing errors: bad input, missing data, corrupt files."""


class ConfigError(DSCodecError, ValueError):
    """A config file or key is wrong; the message names the key and the file."""


class DataError(DSCodecError):
    """A dataset root, archive or audio file is missing or unusable."""


class AudioError(DataError):
    """One audio file is empty, corrupt, truncated or otherwise unreadable."""


class BitstreamError(DSCodecError):
    """A .dsc file is truncated, corrupt or not a DS-Codec bitstream."""


class TrainingError(DSCodecError):
    """Training cannot go on (e.g. too many non-finite losses in a row)."""


class OutputPathError(DSCodecError):
    """An output file cannot be written there (missing folder, a directory, no permission)."""
