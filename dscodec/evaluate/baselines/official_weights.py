"""Find, download and open the released weight files of the neural-codec baselines.

Shared by the DAC, BigCodec and WavTokenizer loaders (issue 5, "Baselines"): a baseline's
weights come from ``spec.checkpoint`` (a local file), else from a cached copy, else from a
download of the official release URL -- attempted only when the host answers within a few
seconds, so an offline machine reports *not run* at once instead of hanging. Every cached or
downloaded file is checked against a sha256; a configured file is checked only when the spec
gives ``sha256`` (the user vouches for their own file otherwise).

``torch.load`` is tried with ``weights_only=True`` first. Release files written by older
training code can pickle plain-Python metadata that the restricted unpickler rejects; such a
file is unpickled fully only when it is *trusted* (its sha256 matched, or the user configured
it), because full unpickling can run code.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from dscodec.evaluate.baselines.base import BaselineUnavailable, Reconstructor, checked_waveform
from dscodec.fileio import read_checkpoint, sha256_file
from dscodec.netprobe import probe  # TCP probe with a timeout (no hanging offline)


class OfficialWeightsBaseline(Reconstructor):
    """What every released-weights loader keeps: its config ``spec`` (``checkpoint``, ``sha256``),
    the cache for downloads, and the file actually loaded (named in the report). Weights load
    lazily on the first utterance, so a baseline that is never run costs nothing; ``load()`` sets
    ``checkpoint_path`` last, which is therefore the "loaded" flag."""

    def __init__(self, name: str, spec: Mapping[str, Any], cache_dir: str | Path) -> None:
        self.name = name
        self.spec = dict(spec)
        self.cache_dir = Path(cache_dir)
        self.checkpoint_path: Path | None = None

    def loaded_and_checked(self, wav: Any) -> torch.Tensor:
        """Load the weights if not yet done, then the checked mono waveform as a tensor [T]."""
        if self.checkpoint_path is None:
            self.load()
        return checked_waveform(self.name, wav)


@dataclass(frozen=True)
class Release:
    """One official weight file: where it is published and what it must hash to."""

    label: str           # e.g. "DAC 16 kHz"
    url: str
    filename: str        # name used in the cache directory
    sha256: str | None   # expected digest; None = unknown (computed and reported, not checked)
    sha256_source: str   # where the digest comes from, for the error message


@dataclass(frozen=True)
class Located:
    path: Path
    trusted: bool        # sha256 verified, or configured by the user


def _check(path: Path, expected: str, source: str) -> None:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise BaselineUnavailable(
            f"{path}: sha256 {actual} does not match the expected {expected} ({source}); the file is corrupt, "
            "incomplete or a different release -- delete it to download again, or set the baseline's `sha256` "
            "key if you trust this file")


def locate(release: Release, name: str, spec: Mapping[str, Any], cache_dir: Path,
           extra_dirs: Iterable[Path] = ()) -> Located:
    """Configured file > cached copy (cache_dir, then ``extra_dirs``) > download into cache_dir."""
    expected = spec.get("sha256") or release.sha256
    source = f"evaluation.baselines.{name}.sha256" if spec.get("sha256") else release.sha256_source
    configured = spec.get("checkpoint")
    if configured:
        path = Path(str(configured)).expanduser()
        if not path.is_file():
            raise BaselineUnavailable(f"{release.label} checkpoint {path} (evaluation.baselines.{name}.checkpoint) "
                                      "does not exist")
        if spec.get("sha256"):
            _check(path, str(spec["sha256"]), source)
        return Located(path, trusted=True)
    for folder in (cache_dir, *extra_dirs):
        candidate = Path(folder).expanduser() / release.filename
        if candidate.is_file():
            if expected:
                _check(candidate, expected, source)
            return Located(candidate, trusted=bool(expected))
    try:
        probe(release.url)
    except OSError as err:
        raise BaselineUnavailable(
            f"{release.label} weights are neither configured (evaluation.baselines.{name}.checkpoint) nor cached in "
            f"{cache_dir}, and {release.url} is unreachable ({err})") from err
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / release.filename
    try:  # torch.hub writes to a temporary file and renames it only after the hash-prefix check
        torch.hub.download_url_to_file(release.url, str(target), hash_prefix=expected, progress=False)
    except (OSError, RuntimeError, ValueError) as err:
        raise BaselineUnavailable(f"downloading {release.url} failed: {err}") from err
    return Located(target, trusted=bool(expected))


def load_file(located: Located, label: str) -> Any:
    """``torch.load`` on CPU, restricted unpickling first; clear BaselineUnavailable on a damaged file."""
    path = located.path
    try:
        return read_checkpoint(path, "cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not located.trusted:
            raise BaselineUnavailable(
                f"{path}: holds Python objects beyond tensors and its sha256 is not pinned, so it is not unpickled "
                f"({str(err).splitlines()[0]}); configure it explicitly or set its `sha256` to trust it") from err
    except Exception as err:  # zip/EOF/pickle errors of many types for a truncated or foreign file
        raise BaselineUnavailable(f"{path}: not a readable {label} checkpoint ({type(err).__name__}: {err})") from err
    try:
        return read_checkpoint(path, "cpu", weights_only=False)
    except Exception as err:
        raise BaselineUnavailable(f"{path}: not a readable {label} checkpoint ({type(err).__name__}: {err})") from err


def load_strict(module: torch.nn.Module, state: Any, path: Path, label: str) -> None:
    """``load_state_dict(strict=True)``; a mismatch names the first missing/unexpected keys."""
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BaselineUnavailable(f"{path}: expected a {label} state dict of tensors, found {type(state).__name__}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BaselineUnavailable(f"{path}: not a {label} state dict ({str(err)[:500]})") from err
