"""DS-Codec checkpoints as evaluation reconstructors (paper Sec. 3.2, Table 1 rows "DS-Codec-*").

Every utterance goes through the real .dsc bitstream (dscodec.bitstream): encode -> bytes ->
parse -> decode. So the scored audio is exactly what a receiver of the file would hear, and
the bitrate in the tables is *measured* from the bytes written, not computed from the
codebook size (paper Table 1 quotes 1.04 kbps for VQ and 1.28 kbps for PQ).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from dscodec import bitstream, layout
from dscodec.errors import ConfigError
from dscodec.evaluate.baselines.base import SAMPLE_RATE, CodecInfo, Reconstructor
from dscodec.fileio import read_checkpoint


def checkpoint_path(cfg: Mapping[str, Any], system: str, stage: int) -> Path:
    """R/models/<system>/stage<N>/ckpt.pt; stage 1 of a `stage1_from: X` system is X's stage 1."""
    systems = cfg["systems"]
    if system not in systems:
        raise ConfigError(f"unknown system {system!r}; the config defines: {', '.join(systems)}")
    if stage not in (1, 2):
        raise ConfigError(f"stage must be 1 or 2, got {stage!r}")
    return Path(layout.evaluated_checkpoint(cfg, system, stage))


def system_label(cfg: Mapping[str, Any], system: str, stage: int) -> str:
    """Table label: `systems.<name>.label`, with " (stage 1)" for the stage-1 model."""
    label = str(cfg["systems"][system].get("label", system))
    return f"{label} (stage 1)" if stage == 1 else label


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class DSCodecReconstructor(Reconstructor):
    """A trained DS-Codec (system, stage) behind the common reconstructor interface."""

    def __init__(self, checkpoint: str | Path, label: str, device: str = "cpu", name: str = "") -> None:
        self.checkpoint = Path(checkpoint)
        self.label = label
        self.device = resolve_device(device)
        self.name = name or label
        self.codec: Any = None
        self.metadata: dict[str, Any] = {}
        self.total_payload_bits = 0   # token payload incl. byte padding, summed over utterances
        self.total_file_bits = 0      # whole .dsc files (30-byte header + payload + CRC)
        self.total_seconds = 0.0      # audio duration the bitstreams describe

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], system: str, stage: int) -> "DSCodecReconstructor":
        return cls(checkpoint_path(cfg, system, stage), system_label(cfg, system, stage),
                   device=str(cfg["device"]), name=f"{system}-stage{stage}")

    # -- loading --------------------------------------------------------------------------
    def load(self) -> None:
        from dscodec.codec_api import DSCodec

        self.codec = DSCodec.from_checkpoint(self.checkpoint, device=self.device)
        # Provenance only (step, system, stage): mmap keeps this cheap for large training checkpoints.
        raw = read_checkpoint(self.checkpoint, "cpu", mmap=True)
        config = raw.get("config") or {}
        self.metadata = {
            "checkpoint": str(self.checkpoint),
            "step": raw.get("step"),
            "system": raw.get("system"),
            "stage": raw.get("stage"),
            "model_size": (config.get("model") or {}).get("size"),
            "codec_config": raw.get("codec_config"),
            "num_parameters": self.codec.num_parameters,
        }
        del raw

    def _require(self) -> Any:
        if self.codec is None:
            raise RuntimeError("DSCodecReconstructor.load() must be called first")
        return self.codec

    # -- description ----------------------------------------------------------------------
    @property
    def nominal_bitrate_kbps(self) -> float:
        codec = self._require()
        return codec.bits_per_token * codec.frame_rate / 1000.0

    def accounting(self) -> dict[str, Any]:
        return {"payload_bits": self.total_payload_bits, "file_bits": self.total_file_bits,
                "seconds": self.total_seconds}

    def restore_accounting(self, state: Mapping[str, Any]) -> None:
        self.total_payload_bits = int(state["payload_bits"])
        self.total_file_bits = int(state["file_bits"])
        self.total_seconds = float(state["seconds"])

    @property
    def measured_bitrate_kbps(self) -> float | None:
        """Payload bits of every .dsc written so far over the seconds of audio they encode."""
        if self.total_seconds <= 0:
            return None
        return self.total_payload_bits / self.total_seconds / 1000.0

    @property
    def measured_file_bitrate_kbps(self) -> float | None:
        """Same with the whole file (header + CRC), what a stored .dsc really costs."""
        if self.total_seconds <= 0:
            return None
        return self.total_file_bits / self.total_seconds / 1000.0

    @property
    def info(self) -> CodecInfo:
        codec = self._require()
        measured = self.measured_bitrate_kbps
        return CodecInfo(label=self.label,
                         bitrate_kbps=measured if measured is not None else self.nominal_bitrate_kbps,
                         tokens_per_second=float(codec.frame_rate), n_codebooks=1,
                         native_sample_rate=int(codec.sample_rate))

    # -- reconstruction -------------------------------------------------------------------
    def _through_bitstream(self, tokens: torch.Tensor, num_samples: int) -> torch.Tensor:
        """Write one utterance's tokens as .dsc bytes, count them, read them back."""
        codec = self._require()
        data = bitstream.to_bytes(bitstream.Bitstream(tokens.reshape(-1).cpu(), int(codec.sample_rate),
                                                      int(codec.hop_length), int(codec.codebook_size), num_samples))
        parsed = bitstream.from_bytes(data, source=f"{self.name} bitstream")
        self.total_file_bits += 8 * len(data)
        self.total_payload_bits += 8 * (len(data) - bitstream.HEADER_BYTES)
        self.total_seconds += parsed.duration_s
        return parsed.tokens

    def reconstruct(self, wav: np.ndarray) -> np.ndarray:
        return self.reconstruct_many([wav])[0]

    def reconstruct_many(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        """Reconstruct several utterances; those of exactly the same length share one batch.

        Only equal-length utterances are batched: padding a shorter one would let the
        non-causal convolutions and the Transformer see extra frames, so its output would
        differ from the single-utterance result.
        """
        codec = self._require()
        out: list[np.ndarray | None] = [None] * len(wavs)
        groups: dict[int, list[int]] = {}
        for i, wav in enumerate(wavs):
            groups.setdefault(len(wav), []).append(i)
        for length, members in sorted(groups.items()):
            batch = np.stack([np.asarray(wavs[i], dtype=np.float32) for i in members])[:, None, :]
            tokens = codec.encode(torch.from_numpy(batch), SAMPLE_RATE)
            received = torch.stack([self._through_bitstream(tokens[row], length) for row in range(len(members))])
            audio = codec.decode(received.to(codec.device), length=length).cpu().numpy()[:, 0]
            for row, i in enumerate(members):
                out[i] = np.ascontiguousarray(audio[row], dtype=np.float32)
        return [x for x in out if x is not None]
