"""DS-Codec checkpoints as evaluation reconstructors (paper Sec. 3.2, Table 1 rows "DS-Codec-*").

Every utterance goes through the real .dsc bitstream (dscodec.bitstream): encode -> bytes ->
parse -> decode. So the scored audio is exactly what a receiver of the file would hear, and
the bitrate in the tables is *measured* from the bytes written, not computed from the
codebook size (paper Table 1 quotes 1.04 kbps for VQ and 1.28 kbps for PQ).

A stage-2 checkpoint keeps its stage 1's encoder and quantizer, so its tokens are those of the
stage-1 job on the same test set: they are read from R/eval/_tokens/<testset> when that job ran
first (token_cache.py; exact, keyed by the encoder's weights and the encoded samples), and every
token still goes through the bitstream.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from dscodec import bitstream, layout
from dscodec.errors import ConfigError
from dscodec.evaluate.baselines.base import SAMPLE_RATE, CodecInfo, Reconstructor
from dscodec.evaluate.token_cache import TokenCache, encoder_key
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

    def __init__(self, checkpoint: str | Path, label: str, device: str = "cpu", name: str = "",
                 token_cache: str | Path | None = None) -> None:
        """`token_cache`: a folder (R/eval/_tokens/<testset>) where tokens are shared with the other
        checkpoints of the same encoder (token_cache.py; exact); None = always encode."""
        self.checkpoint = Path(checkpoint)
        self.label = label
        self.device = resolve_device(device)
        self.name = name or label
        self.token_cache_root = Path(token_cache) if token_cache is not None else None
        self.token_cache: TokenCache | None = None
        self.token_batches = {"cached": 0, "encoded": 0}   # encode calls answered by the cache / run
        self.codec: Any = None
        self.metadata: dict[str, Any] = {}
        self.total_payload_bits = 0   # token payload incl. byte padding, summed over utterances
        self.total_file_bits = 0      # whole .dsc files (30-byte header + payload + CRC)
        self.total_seconds = 0.0      # audio duration the bitstreams describe

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], system: str, stage: int,
                    testset: str | None = None) -> "DSCodecReconstructor":
        """With `testset`, tokens are shared through R/eval/_tokens/<testset> (stage 2 reuses stage 1's)."""
        tokens = layout.eval_dir(cfg, layout.ENCODER_TOKENS, testset) if testset is not None else None
        return cls(checkpoint_path(cfg, system, stage), system_label(cfg, system, stage),
                   device=str(cfg["device"]), name=f"{system}-stage{stage}", token_cache=tokens)

    # -- loading --------------------------------------------------------------------------
    def load(self) -> None:
        from dscodec.codec_api import DSCodec

        self.codec = DSCodec.from_checkpoint(self.checkpoint, device=self.device)
        if self.token_cache_root is not None:
            self.token_cache = TokenCache(self.token_cache_root, encoder_key(self.codec))
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

    def _encode(self, batch: np.ndarray) -> torch.Tensor:
        """Tokens of one batch [B, 1, T]: from the token cache when a checkpoint with the same
        encoder stored them for exactly this input, else encoded (and stored)."""
        codec = self._require()
        if self.token_cache is not None:
            stored = self.token_cache.load(batch)
            if stored is not None:
                self.token_batches["cached"] += 1
                return torch.from_numpy(stored).to(codec.device)
        tokens = codec.encode(torch.from_numpy(batch), SAMPLE_RATE)
        self.token_batches["encoded"] += 1
        if self.token_cache is not None:
            self.token_cache.store(batch, tokens.cpu().numpy())
        return tokens

    def token_cache_stats(self) -> dict[str, Any]:
        """For the job summary: where tokens are shared, and how many encode calls the cache answered."""
        return {"cache": str(self.token_cache_root) if self.token_cache_root is not None else None,
                "encoder_key": self.token_cache.key if self.token_cache is not None else None,
                "batches": dict(self.token_batches)}

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
            tokens = self._encode(batch)
            received = torch.stack([self._through_bitstream(tokens[row], length) for row in range(len(members))])
            audio = codec.decode(received.to(codec.device), length=length).cpu().numpy()[:, 0]
            for row, i in enumerate(members):
                out[i] = np.ascontiguousarray(audio[row], dtype=np.float32)
        return [x for x in out if x is not None]
