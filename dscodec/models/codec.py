"""CodecModel: encoder -> single-token quantizer -> decoder (paper Fig. 1).

`quantizer`: "vq" (DS-Codec-VQ) or "pq" (DS-Codec-PQ). `decoder`: "mirror" (stage 1 of
the proposed recipe) or "transformer" (non-mirrored; stage 2, or the APCodec+ ablation
trained jointly from the start). `to_nonmirror()` is the paper's architecture switch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import torch
from torch import nn

from dscodec.errors import ConfigError
from dscodec.models.decoder import Decoder
from dscodec.models.encoder import Encoder
from dscodec.models.sizes import ModelSize
from dscodec.quantize import FactorizedVectorQuantizer, ProductQuantizer

QuantizerKind = Literal["vq", "pq"]
DecoderKind = Literal["mirror", "transformer"]


@dataclass
class CodecOutput:
    recon: torch.Tensor  # [B, 1, T]
    codes: torch.Tensor  # Long [B, frames]
    # raw commitment and codebook losses, one per codebook ([] VQ, [G] PQ); the trainer weights
    # them (dscodec.losses.VQLossWeights)
    commit_loss: torch.Tensor
    codebook_loss: torch.Tensor
    stats: dict[str, torch.Tensor]  # commit_loss, codebook_loss, quant_mse, perplexity, usage, ...


def build_quantizer(size: ModelSize, kind: str, *, dead_code_reset: bool = False) -> nn.Module:
    """The quantizer of `kind`; `dead_code_reset` (`train.dead_code_reset`) acts only in training mode."""
    if kind == "vq":
        return FactorizedVectorQuantizer(
            dim=size.latent_dim, codebook_size=size.codebook_size, codebook_dim=size.codebook_dim,
            dead_code_reset=dead_code_reset,
        )
    if kind == "pq":
        return ProductQuantizer(
            dim=size.latent_dim, groups=size.pq_groups, group_codebook_size=size.pq_codebook_size,
            codebook_dim=size.pq_codebook_dim, dead_code_reset=dead_code_reset,
        )
    raise ConfigError(f"unknown quantizer {kind!r}; expected 'vq' or 'pq'")


class CodecModel(nn.Module):
    def __init__(self, size: ModelSize, quantizer: QuantizerKind = "vq", decoder: DecoderKind = "mirror",
                 *, dead_code_reset: bool = False) -> None:
        """`dead_code_reset` is a training switch (`train.dead_code_reset`), not part of the architecture:
        it is not saved in codec_config, and a loaded model has it off unless the caller says otherwise."""
        super().__init__()
        if decoder not in ("mirror", "transformer"):
            raise ConfigError(f"unknown decoder {decoder!r}; expected 'mirror' or 'transformer'")
        self.size, self.quantizer_kind, self.decoder_kind = size, quantizer, decoder
        self.dead_code_reset = dead_code_reset
        self.encoder = Encoder(size)
        self.quantizer = build_quantizer(size, quantizer, dead_code_reset=dead_code_reset)
        self.decoder = Decoder(size, transformer=decoder == "transformer")

    # -- properties -----------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        return self.size.hop_length

    @property
    def sample_rate(self) -> int:
        return self.size.sample_rate

    @property
    def codebook_size(self) -> int:
        """Number of distinct tokens (8192 for VQ, 16^4 = 65,536 for PQ at paper size)."""
        return int(self.quantizer.codebook_size)

    # -- inference / training ------------------------------------------------------------
    def _check(self, wav: torch.Tensor) -> None:
        if wav.dim() != 3 or wav.shape[1] != 1 or wav.shape[-1] % self.hop_length:
            raise ValueError(f"expected [B, 1, T] with T a multiple of {self.hop_length}, got {tuple(wav.shape)}")

    def forward(self, wav: torch.Tensor) -> CodecOutput:
        self._check(wav)
        q = self.quantizer(self.encoder(wav))
        return CodecOutput(recon=self.decoder(q.z_q), codes=q.codes, commit_loss=q.commit_loss,
                           codebook_loss=q.codebook_loss, stats=q.stats)

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, 1, T] -> Long [B, T / hop]."""
        self._check(wav)
        return self.quantizer.encode(self.encoder(wav))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Long [B, F] -> [B, 1, F * hop]."""
        return self.decoder(self.quantizer.decode(codes))

    # -- the architecture switch (paper §2.3) --------------------------------------------
    def to_nonmirror(self) -> "CodecModel":
        """New non-mirrored model: same encoder/quantizer/decoder weights, transformer added.

        The transformer is zero-initialised to the identity, so the new model's output
        equals this model's output at the switch; only the transformer is new.
        """
        if self.decoder_kind == "transformer":
            raise ConfigError("model already has the non-mirrored (transformer) decoder")
        param = next(self.parameters())
        new = CodecModel(self.size, quantizer=self.quantizer_kind, decoder="transformer",
                         dead_code_reset=self.dead_code_reset)
        new = new.to(device=param.device, dtype=param.dtype)
        result = new.load_state_dict(self.state_dict(), strict=False)
        unexpected = list(result.unexpected_keys)
        missing = [k for k in result.missing_keys if not k.startswith("decoder.transformer.")]
        if unexpected or missing:  # would mean the two architectures drifted apart
            raise RuntimeError(f"to_nonmirror: state mismatch (missing {missing}, unexpected {unexpected})")
        return new

    # -- (de)serialisation -----------------------------------------------------------------
    def codec_config(self) -> dict[str, Any]:
        return {"size": self.size.to_dict(), "quantizer": self.quantizer_kind, "decoder": self.decoder_kind}

    @classmethod
    def from_codec_config(cls, config: Mapping[str, Any], *, dead_code_reset: bool = False) -> "CodecModel":
        """Rebuild from codec_config; training settings (`dead_code_reset`) come from the caller."""
        try:
            size = ModelSize.from_dict(config["size"])
            return cls(size, quantizer=config["quantizer"], decoder=config["decoder"],
                       dead_code_reset=dead_code_reset)
        except KeyError as err:
            raise ConfigError(f"codec_config lacks key {err}") from err

    def num_parameters(self) -> dict[str, int]:
        parts = {
            "encoder": self.encoder,
            "quantizer": self.quantizer,
            "decoder": self.decoder,
        }
        counts = {name: sum(p.numel() for p in m.parameters()) for name, m in parts.items()}
        counts["transformer"] = (
            sum(p.numel() for p in self.decoder.transformer.parameters()) if self.decoder.transformer else 0
        )
        counts["total"] = counts["encoder"] + counts["quantizer"] + counts["decoder"]
        return counts
