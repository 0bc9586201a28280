"""Reading and writing the codec part of a checkpoint (format "dscodec-ckpt-v1", see the contract).

The training loop writes the full checkpoint (optimisers, discriminators, RNG ...); the
codec API needs only `format`, `codec_config` and `codec`. `save_checkpoint_for_inference`
writes a minimal valid file (tests, exported models) and accepts extra keys.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dscodec.errors import DSCodecError
from dscodec.fileio import atomic_write, read_checkpoint
from dscodec.models.codec import CodecModel

CHECKPOINT_FORMAT = "dscodec-ckpt-v1"


def save_checkpoint_for_inference(model: CodecModel, path: str | Path, **extra: Any) -> Path:
    """torch.save {"format", "codec_config", "codec", **extra}; parent folders are created."""
    payload = {"format": CHECKPOINT_FORMAT, "codec_config": model.codec_config(), "codec": model.state_dict()}
    payload.update(extra)
    return atomic_write(path, lambda handle: torch.save(payload, handle))  # never a half-written checkpoint


def open_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    error: type[DSCodecError] = DSCodecError) -> dict[str, Any]:
    """A "dscodec-ckpt-v1" checkpoint as a dict; `error` (naming the file) if it is missing or unusable.

    The one reader for the codec API and the trainer (which passes TrainingError)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"checkpoint not found: {path}")
    try:
        # full pickle: training checkpoints also hold RNG states; only load files you trust
        ckpt = read_checkpoint(path, map_location)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise error(f"{path}: not a readable checkpoint ({err.__class__.__name__}: {err})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise error(f"{path}: not a {CHECKPOINT_FORMAT} checkpoint")
    return ckpt


def load_codec(path: str | Path, device: str | torch.device = "cpu") -> CodecModel:
    """CodecModel from a checkpoint file, in eval mode on `device`."""
    ckpt = open_checkpoint(path, device)
    model = CodecModel.from_codec_config(ckpt["codec_config"])
    try:
        model.load_state_dict(ckpt["codec"])
    except (KeyError, RuntimeError) as err:
        raise DSCodecError(f"{path}: codec weights do not match its codec_config: {err}") from err
    return model.to(device).eval()
