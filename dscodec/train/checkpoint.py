"""Atomic, resumable training checkpoints in the contract format "dscodec-ckpt-v1".

A checkpoint holds everything needed to continue a killed job so that it ends exactly
where an uninterrupted run would have: codec and discriminator weights, optimiser and
scheduler states, the step, and the RNG states of torch (CPU and CUDA), numpy and Python.
The codec API (dscodec.models.checkpoint.load_codec) reads only format/codec_config/codec.

Files are written to a temporary file in the same folder, flushed to disk, then moved
over the target with os.replace, which is atomic on POSIX: a crash mid-write leaves the
previous checkpoint intact, never a half-written one. The temporary such a crash leaves
(`.last.pt.XXXXXXXX.tmp`) is removed by the next trainer on start (remove_stale_temporaries).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from dscodec.errors import TrainingError
from dscodec.fileio import atomic_write, temp_pattern
from dscodec.models.checkpoint import CHECKPOINT_FORMAT, open_checkpoint


def capture_rng() -> dict[str, Any]:
    """RNG states of every generator training draws from."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu() if hasattr(state["torch"], "cpu") else state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        states = state["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary sibling, fsync, then os.replace onto `path` (dscodec.fileio.atomic_write)."""
    return atomic_write(path, lambda handle: torch.save(obj, handle), fsync=True)


def remove_stale_temporaries(folder: str | Path, names: tuple[str, ...]) -> list[Path]:
    """Delete temporaries that atomic_torch_save left behind when killed mid-write; return them.

    Why: a kill between mkstemp and os.replace leaves `.<name>.XXXXXXXX.tmp` (often 0 bytes)
    that nothing would ever remove. Only that exact pattern, for the given target names, is
    touched; call it when the only writer of `folder` is starting (a trainer at start-up).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    patterns = [temp_pattern(n) for n in names]
    removed = []
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink() and any(p.fullmatch(entry.name) for p in patterns):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return sorted(removed)


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    """state_dict of the plain module (unwrapped from DDP / torch.compile)."""
    inner = getattr(module, "module", module)
    inner = getattr(inner, "_orig_mod", inner)
    return inner.state_dict()


def build_checkpoint(
    *,
    codec: nn.Module,
    discriminators: nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
    step: int,
    system: str,
    stage: int,
    config: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    inner = getattr(codec, "module", codec)
    inner = getattr(inner, "_orig_mod", inner)
    return {
        "format": CHECKPOINT_FORMAT,
        "codec_config": inner.codec_config(),
        "codec": _state(codec),
        "discriminators": _state(discriminators),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "schedulers": {name: sch.state_dict() for name, sch in schedulers.items()},
        "step": int(step),
        "rng": capture_rng(),
        "system": system,
        "stage": int(stage),
        "config": dict(config),
        "extra": dict(extra or {}),
    }


def save_checkpoint(path: str | Path, **kwargs: Any) -> Path:
    """Build (see build_checkpoint) and atomically write a training checkpoint."""
    return atomic_torch_save(build_checkpoint(**kwargs), path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint; raise TrainingError naming the file if it is unusable."""
    ckpt = open_checkpoint(path, map_location, TrainingError)
    missing = [k for k in ("codec_config", "codec", "step") if k not in ckpt]
    if missing:
        raise TrainingError(f"{path}: checkpoint lacks {missing}")
    return ckpt
