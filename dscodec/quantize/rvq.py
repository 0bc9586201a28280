"""Residual VQ (SoundStream/EnCodec/DAC) built from the same factorised VQ.

Not used by DS-Codec itself; it lets the RVQ baselines' bitrate/architecture be
expressed with the same building blocks: quantiser n codes the residual left by 1..n-1.
Codes are [B, Nq, T]. `n_quantizers` at encode time gives bitrate scalability.
"""
from __future__ import annotations

import torch
from torch import nn

from dscodec.quantize.vq import FactorizedVectorQuantizer, QuantizerOutput, at_least_fp32


class ResidualVectorQuantizer(nn.Module):
    def __init__(
        self,
        dim: int,
        num_quantizers: int,
        codebook_size: int,
        codebook_dim: int = 8,
        commitment_weight: float = 0.25,
        codebook_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.quantizers = nn.ModuleList(
            FactorizedVectorQuantizer(dim, codebook_size, codebook_dim, commitment_weight, codebook_weight)
            for _ in range(num_quantizers)
        )

    def forward(self, z: torch.Tensor, n_quantizers: int | None = None) -> QuantizerOutput:
        residual, z_q = z, torch.zeros_like(z)
        codes, losses, stats = [], [], []
        for q in self.quantizers[: n_quantizers or len(self.quantizers)]:
            out = q(residual)
            z_q = z_q + out.z_q
            residual = residual - out.z_q.detach()
            codes.append(out.codes)
            losses.append(out.loss)
            stats.append(out.stats)
        loss = torch.stack(losses).sum()
        merged = {k: torch.stack([s[k] for s in stats]).mean() for k in ("perplexity", "usage", "dead_codes")}
        merged.update(
            vq_loss=loss.detach(),
            commit_loss=torch.stack([s["commit_loss"] for s in stats]).sum(),
            codebook_loss=torch.stack([s["codebook_loss"] for s in stats]).sum(),
            quant_mse=torch.nn.functional.mse_loss(z_q, at_least_fp32(z)).detach(),
        )
        return QuantizerOutput(z_q, torch.stack(codes, dim=1), loss, merged)

    def encode(self, z: torch.Tensor, n_quantizers: int | None = None) -> torch.Tensor:
        codes, residual = [], z
        for q in self.quantizers[: n_quantizers or len(self.quantizers)]:
            c = q.encode(residual)
            residual = residual - q.decode(c)
            codes.append(c)
        return torch.stack(codes, dim=1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return sum(q.decode(codes[:, i]) for i, q in enumerate(self.quantizers[: codes.shape[1]]))
