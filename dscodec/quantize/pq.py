"""DS-Codec-PQ: product quantisation into one token (paper §2.1, Algorithm 1).

The latent is split along channels into G non-overlapping groups, each quantised by its
own factorised VQ of size S_i (paper: G = 4, S_i = 16). The G indices are combined into a
single token by Algorithm 1,

    code = 0;  for i in 1..G:  code = code * S_{i-1} + code_i

i.e. a mixed-radix number with the first group most significant, giving prod(S_i) =
65,536 distinct tokens (16 bits -> 1.28 kbps at 80 tokens/s). `split_indices` inverts it
exactly. The VQ loss is the sum over groups: the raw losses are returned per group, and
the trainer weights each group's, then sums (dscodec.losses.VQLossWeights).

[ours] Each group is a FactorizedVectorQuantizer on D/G channels with its own projection
down to `codebook_dim` (8) dims, the same lookup as DS-Codec-VQ; the paper does not state
the group dimension or projection.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from dscodec.quantize.vq import FactorizedVectorQuantizer, QuantizerOutput, at_least_fp32


def combine_indices(group_codes: Sequence[torch.Tensor], sizes: Sequence[int]) -> torch.Tensor:
    """Algorithm 1: per-group indices (each in [0, S_i)) -> one token in [0, prod S_i)."""
    code = torch.zeros_like(group_codes[0])
    for codes_i, size_i in zip(group_codes, sizes):
        code = code * size_i + codes_i
    return code


def split_indices(code: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    """Inverse of `combine_indices` (peel off the least significant group first)."""
    groups = []
    for size_i in reversed(sizes):
        groups.append(code % size_i)
        code = torch.div(code, size_i, rounding_mode="floor")
    return groups[::-1]


class ProductQuantizer(nn.Module):
    def __init__(
        self,
        dim: int,
        groups: int = 4,
        group_codebook_size: int = 16,
        codebook_dim: int = 8,
        dead_code_reset: bool = False,
    ) -> None:
        super().__init__()
        if dim % groups:
            raise ValueError(f"latent dim {dim} is not divisible into {groups} PQ groups")
        self.dim, self.groups = dim, groups
        self.sizes = [group_codebook_size] * groups
        self.codebook_size = group_codebook_size**groups
        self.quantizers = nn.ModuleList(
            FactorizedVectorQuantizer(
                dim=dim // groups, codebook_size=group_codebook_size, codebook_dim=codebook_dim,
                dead_code_reset=dead_code_reset,
            )
            for _ in range(groups)
        )

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        parts = z.chunk(self.groups, dim=1)
        return combine_indices([q.encode(p) for q, p in zip(self.quantizers, parts)], self.sizes)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        group_codes = split_indices(codes, self.sizes)
        return torch.cat([q.decode(c) for q, c in zip(self.quantizers, group_codes)], dim=1)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        outs = [q(p) for q, p in zip(self.quantizers, z.chunk(self.groups, dim=1))]
        z_q = torch.cat([o.z_q for o in outs], dim=1)
        # one raw loss per group: weighted per group, then summed (paper: VQ loss summed over groups)
        commit = torch.stack([o.commit_loss for o in outs])
        codebook = torch.stack([o.codebook_loss for o in outs])
        codes = combine_indices([o.codes for o in outs], self.sizes)
        stats: dict[str, torch.Tensor] = {}
        for key in ("commit_loss", "codebook_loss"):
            stats[key] = torch.stack([o.stats[key] for o in outs]).sum()
        for key in ("perplexity", "usage", "dead_codes"):  # group averages
            stats[key] = torch.stack([o.stats[key] for o in outs]).mean()
        stats["quant_mse"] = torch.nn.functional.mse_loss(z_q, at_least_fp32(z)).detach()
        stats["token_usage"] = (torch.unique(codes).numel() / self.codebook_size) * torch.ones((), device=z.device)
        return QuantizerOutput(z_q, codes, commit_loss=commit, codebook_loss=codebook, stats=stats)
