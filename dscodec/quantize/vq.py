"""DS-Codec-VQ: a single factorised, L2-normalised codebook (paper §2.1; DAC §3.2; BigCodec).

The 1024-dim latent is projected down to `codebook_dim` (8) dims, looked up in one
8192-entry codebook by cosine similarity (both sides L2-normalised, which spreads usage
over the codebook), and the chosen code is projected back up. Gradients pass the lookup
with the straight-through estimator. Losses (van den Oord et al., 2017):

    commitment = ||z_e - sg(z_q)||^2   pulls the encoder to the codes
    codebook   = ||sg(z_e) - z_q||^2   pulls the codes to the encoder

Both are returned raw: the trainer weights them, once, with `train.loss_weights`
(`commitment` 0.25, `codebook` 1.0 [BigCodec]; dscodec.losses.VQLossWeights), as DAC keeps
its `lambdas` in the training config and its quantizer unweighted.

`stats` carries what the paper's Figure 2 plots (the raw VQ losses, from which the trainer
logs the weighted `vq_loss`, and the MSE between the quantizer's input and output in latent
space) plus codebook health: perplexity, the fraction of codes used in the batch, and the
fraction of "dead" codes whose running usage fell below 10 % of uniform.

Under DDP (several processes) the optional dead-code reset keeps every rank's quantizer
identical, as EnCodec's `core_vq.py` does for its codebooks: the code counts behind the
running usage are summed over ranks (so every rank sees the same dead codes and makes the
same collective calls), and after re-seeding, rank 0's codebook and usage are broadcast.
Without this each rank re-seeded from its own batch and the codebooks drifted apart while
DDP kept averaging gradients into them (issue 12).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from dscodec.nn.conv import WNConv1d

# Running code-usage average (for the dead-code statistic and the optional reset). A window of
# ~20 updates and a threshold of 10 % of uniform let a code that stopped being chosen count as
# dead after ~45 steps; the earlier 0.99 / 1 % needed ~460 steps, longer than a whole CPU stage,
# so the reset never fired in the runs that needed it most.
USAGE_DECAY = 0.95
DEAD_FRACTION_OF_UNIFORM = 0.1


def _full_precision(z: torch.Tensor) -> torch.autocast:
    """The lookup and the VQ losses run in float32 even under bf16 autocast: nearest-code
    search among 8192 codes is sensitive to rounding."""
    return torch.autocast(device_type=z.device.type, enabled=False)


def _world_size() -> int:
    """Processes in the default group (1 outside torch.distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def at_least_fp32(z: torch.Tensor) -> torch.Tensor:
    return z.to(torch.promote_types(z.dtype, torch.float32))


@dataclass
class QuantizerOutput:
    z_q: torch.Tensor  # [B, D, T] quantised latent (straight-through in training)
    codes: torch.Tensor  # Long [B, T]
    # raw (unweighted) losses with their gradients, one per codebook: shape [] for the VQ, [G] for
    # the PQ's G groups; weighted, then summed, by dscodec.losses.VQLossWeights
    commit_loss: torch.Tensor
    codebook_loss: torch.Tensor
    stats: dict[str, torch.Tensor] = field(default_factory=dict)


class FactorizedVectorQuantizer(nn.Module):
    def __init__(
        self,
        dim: int,
        codebook_size: int,
        codebook_dim: int = 8,
        dead_code_reset: bool = False,
    ) -> None:
        super().__init__()
        self.dim, self.codebook_size, self.codebook_dim = dim, codebook_size, codebook_dim
        self.dead_code_reset = dead_code_reset
        self.in_proj = WNConv1d(dim, codebook_dim, 1)
        self.out_proj = WNConv1d(codebook_dim, dim, 1)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)
        self.register_buffer("usage", torch.full((codebook_size,), 1.0 / codebook_size))

    # -- lookup -------------------------------------------------------------------------
    def _nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """Indices [B, T] of the closest code by cosine similarity; z_e is [B, d, T]."""
        flat = F.normalize(z_e.transpose(1, 2).reshape(-1, self.codebook_dim), dim=-1)
        book = F.normalize(self.codebook.weight, dim=-1)
        # for unit vectors, argmin distance == argmax dot product
        idx = (flat @ book.t()).argmax(dim=-1)
        return idx.view(z_e.shape[0], z_e.shape[2])

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent [B, D, T] -> codes Long [B, T]."""
        with _full_precision(z):
            return self._nearest(self.in_proj(at_least_fp32(z)))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, T] -> quantised latent [B, D, T]."""
        return self.out_proj(self.codebook(codes).transpose(1, 2))

    # -- training -----------------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        with _full_precision(z):
            return self._forward(at_least_fp32(z))

    def _forward(self, z: torch.Tensor) -> QuantizerOutput:
        z_e = self.in_proj(z)
        if self.training and self.dead_code_reset:
            self._reset_dead_codes(z_e)
        codes = self._nearest(z_e)
        z_q = self.codebook(codes).transpose(1, 2)
        commit = F.mse_loss(z_e, z_q.detach())
        codebook = F.mse_loss(z_q, z_e.detach())
        z_q = z_e + (z_q - z_e).detach()  # straight-through estimator
        out = self.out_proj(z_q)
        stats = self.code_stats(codes)
        stats.update(
            commit_loss=commit.detach(),
            codebook_loss=codebook.detach(),
            quant_mse=F.mse_loss(out, z).detach(),  # paper Fig. 2: MSE(quantizer input, output)
        )
        return QuantizerOutput(out, codes, commit_loss=commit, codebook_loss=codebook, stats=stats)

    @torch.no_grad()
    def code_stats(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Perplexity, batch usage and dead-code fraction; updates the running usage in training."""
        counts = torch.bincount(codes.reshape(-1), minlength=self.codebook_size).float()
        probs = counts / counts.sum().clamp_min(1.0)
        if self.training:
            self.usage.mul_(USAGE_DECAY).add_(self._global_probs(counts, probs), alpha=1.0 - USAGE_DECAY)
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum()
        dead = (self.usage < DEAD_FRACTION_OF_UNIFORM / self.codebook_size).float().mean()
        return {
            "perplexity": entropy.exp(),
            "usage": (counts > 0).float().mean(),
            "dead_codes": dead,
        }

    def _global_probs(self, counts: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Code frequencies over all ranks when the reset is on under DDP, else this batch's.

        The reset decides from the running usage which codes are dead; summing the counts
        keeps that usage, hence the decision and the collectives that follow, the same on
        every rank. Without the reset nothing depends on it, so no collective is spent."""
        if not self.dead_code_reset or _world_size() == 1:
            return probs
        total = counts.clone()
        dist.all_reduce(total)
        return total / total.sum().clamp_min(1.0)

    @torch.no_grad()
    def _reset_dead_codes(self, z_e: torch.Tensor) -> None:
        """Re-seed dead codes with random encoder outputs of this batch (optional, [ours]).

        Under DDP every rank re-seeds, then takes rank 0's codebook and usage, so all ranks
        hold the same codes (the dead set is the same everywhere, see `_global_probs`)."""
        dead = torch.nonzero(self.usage < DEAD_FRACTION_OF_UNIFORM / self.codebook_size).flatten()
        if dead.numel() == 0:
            return
        pool = z_e.detach().transpose(1, 2).reshape(-1, self.codebook_dim)
        pick = torch.randint(pool.shape[0], (dead.numel(),), device=pool.device)
        self.codebook.weight.data[dead] = pool[pick]
        self.usage[dead] = 1.0 / self.codebook_size
        if _world_size() > 1:
            dist.broadcast(self.codebook.weight.data, src=0)
            dist.broadcast(self.usage, src=0)
