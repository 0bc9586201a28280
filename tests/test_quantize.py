"""Quantizers: factorised VQ (DS-Codec-VQ), product quantisation (DS-Codec-PQ, Algorithm 1)."""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from dscodec.losses import VQLossWeights
from dscodec.quantize import (
    FactorizedVectorQuantizer,
    ProductQuantizer,
    combine_indices,
    split_indices,
)

# the weighted `vq_loss` of Figure 2 is the trainer's (dscodec.losses.VQLossWeights)
FIG2_KEYS = {"commit_loss", "codebook_loss", "quant_mse", "perplexity", "usage", "dead_codes"}


def test_vq_lookup_is_nearest_code_by_cosine():
    torch.manual_seed(0)
    vq = FactorizedVectorQuantizer(dim=16, codebook_size=32, codebook_dim=4)
    z = torch.randn(2, 16, 9)
    codes = vq.encode(z)
    z_e = F.normalize(vq.in_proj(z).transpose(1, 2), dim=-1)
    book = F.normalize(vq.codebook.weight, dim=-1)
    brute = torch.cdist(z_e.reshape(-1, 4), book).argmin(-1).view(2, 9)
    assert torch.equal(codes, brute)
    assert torch.allclose(vq.decode(codes), vq(z).z_q, atol=1e-6)


def test_vq_losses_stats_and_straight_through_gradient():
    torch.manual_seed(0)
    vq = FactorizedVectorQuantizer(dim=16, codebook_size=32, codebook_dim=4)
    z = torch.randn(2, 16, 9, requires_grad=True)
    out = vq(z)
    assert out.codes.shape == (2, 9) and out.codes.dtype == torch.long
    assert FIG2_KEYS <= set(out.stats)
    # raw, unweighted: the weights are applied once, by the trainer
    assert torch.equal(out.commit_loss.detach(), out.stats["commit_loss"])
    assert torch.equal(out.codebook_loss.detach(), out.stats["codebook_loss"])
    assert torch.isclose(out.commit_loss, out.codebook_loss)  # the same distance, gradients to different sides
    assert torch.isclose(out.stats["quant_mse"], F.mse_loss(out.z_q, z))
    assert 1.0 <= out.stats["perplexity"] <= 18 and 0 < out.stats["usage"] <= 18 / 32
    out.z_q.sum().backward()  # reconstruction-only gradient reaches the input via straight-through
    assert z.grad is not None and z.grad.abs().sum() > 0
    vq.zero_grad()
    out = vq(z)
    VQLossWeights()(out.commit_loss, out.codebook_loss).backward()
    assert vq.codebook.weight.grad.abs().sum() > 0  # codebook loss trains the codebook


def test_dead_code_statistic_and_reset():
    torch.manual_seed(0)
    vq = FactorizedVectorQuantizer(dim=8, codebook_size=16, codebook_dim=2, dead_code_reset=True)
    vq.usage.zero_()
    vq.usage[0] = 1.0
    vq.train()
    out = vq(torch.randn(1, 8, 20))
    assert out.stats["dead_codes"] < 1.0  # reset codes got their usage back
    assert vq.usage.min() > 0


def test_pq_combine_split_is_exact_over_the_whole_index_range():
    sizes = [16, 16, 16, 16]
    tokens = torch.arange(16**4)
    groups = split_indices(tokens, sizes)
    assert all(int(g.min()) == 0 and int(g.max()) == 15 for g in groups)
    assert torch.equal(combine_indices(groups, sizes), tokens)
    # Algorithm 1 by hand: code = code * S + code_i, first group most significant
    assert int(combine_indices([torch.tensor(1), torch.tensor(2), torch.tensor(3), torch.tensor(4)], sizes)) == (
        ((1 * 16 + 2) * 16 + 3) * 16 + 4
    )
    # every group combination maps to a distinct token (a bijection)
    mixed = [3, 5, 2]
    combos = torch.tensor(list(itertools.product(*(range(s) for s in mixed)))).T
    combined = combine_indices(list(combos), mixed)
    assert torch.equal(combined, torch.arange(30))
    assert torch.equal(torch.stack(split_indices(combined, mixed)), combos)


def test_pq_forward_encode_decode_consistent():
    torch.manual_seed(0)
    pq = ProductQuantizer(dim=16, groups=4, group_codebook_size=16, codebook_dim=2)
    assert pq.codebook_size == 65536
    z = torch.randn(2, 16, 11, requires_grad=True)
    out = pq(z)
    assert torch.equal(out.codes, pq.encode(z))
    assert torch.allclose(pq.decode(out.codes), out.z_q, atol=1e-6)
    groups = [q(p) for q, p in zip(pq.quantizers, z.chunk(4, dim=1))]
    assert torch.equal(out.commit_loss, torch.stack([g.commit_loss for g in groups]))  # one raw loss per group
    weights = VQLossWeights()
    group_losses = [0.25 * g.commit_loss + 1.0 * g.codebook_loss for g in groups]
    # paper: VQ loss summed over groups
    assert torch.equal(weights(out.commit_loss, out.codebook_loss), torch.stack(group_losses).sum())
    assert FIG2_KEYS <= set(out.stats)
    out.z_q.sum().backward()
    assert z.grad.abs().sum() > 0


def test_dead_codes_of_a_collapsed_codebook_are_reset_within_a_short_run():
    """Regression: with a 0.99 usage average and a 1 %-of-uniform threshold a code needed ~460
    unused steps to count as dead, longer than a CPU stage, so the reset never fired."""
    torch.manual_seed(0)
    vq = FactorizedVectorQuantizer(dim=8, codebook_size=16, codebook_dim=2, dead_code_reset=True).train()
    z = torch.randn(1, 8, 1).expand(2, 8, 40).contiguous()  # every frame the same: one code wins
    initial = vq.codebook.weight.detach().clone()
    reset_at = None
    for step in range(60):
        vq(z)
        changed = (vq.codebook.weight.detach() != initial).any(dim=1)
        if int(changed.sum()) > 1:  # more than the winning code (moved by nothing here) was re-seeded
            reset_at = step
            break
    assert reset_at is not None and reset_at >= 10  # not at once: a code must first stay unused a while
