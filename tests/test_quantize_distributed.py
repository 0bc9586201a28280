"""Dead-code reset under DDP (issue 12, item 5): two gloo processes on the CPU must end a
short training run with identical quantizers. Each rank sees different data, so without
the broadcast after re-seeding their codebooks drift apart (this test then fails)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from dscodec.losses import VQLossWeights
from dscodec.quantize import FactorizedVectorQuantizer, ProductQuantizer
from dscodec.quantize.vq import DEAD_FRACTION_OF_UNIFORM
from dscodec.train.distributed import DistInfo, wrap_ddp

WORLD = 2
STEPS = 60  # a code unused for ~45 steps counts as dead (vq.USAGE_DECAY), so resets fire


def _quantizers(module: torch.nn.Module) -> list[FactorizedVectorQuantizer]:
    return [m for m in module.modules() if isinstance(m, FactorizedVectorQuantizer)]


def _train(quantizer: torch.nn.Module, rank: int) -> dict:
    """A few DDP steps on rank-specific data; returns the final state and the dead codes seen."""
    quantizer.train()
    run = wrap_ddp(quantizer, DistInfo(rank, WORLD, rank, torch.device("cpu")))
    opt = torch.optim.Adam(quantizer.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
    dead_seen = 0
    for _ in range(STEPS):
        for q in _quantizers(quantizer):
            dead_seen += int((q.usage < DEAD_FRACTION_OF_UNIFORM / q.codebook_size).sum())
        z = torch.randn(2, 8, 4, generator=gen)
        out = run(z)
        loss = VQLossWeights()(out.commit_loss, out.codebook_loss) + F.mse_loss(out.z_q, z)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"state": quantizer.state_dict(), "dead_seen": dead_seen}


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)  # same initial weights on both ranks, as DDP requires
        vq = FactorizedVectorQuantizer(dim=8, codebook_size=64, codebook_dim=2, dead_code_reset=True)
        pq = ProductQuantizer(dim=8, groups=2, group_codebook_size=64, codebook_dim=2, dead_code_reset=True)
        results = {"vq": _train(vq, rank), "pq": _train(pq, rank)}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """One spawn of two gloo processes (the start-up dominates the cost) for both quantizers."""
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(str(tmp / "init"), str(tmp)), nprocs=WORLD, join=True)
    return [torch.load(tmp / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("kind", ["vq", "pq"])
def test_dead_code_reset_keeps_ranks_identical(ddp_results: list[dict], kind: str) -> None:
    ranks = [r[kind] for r in ddp_results]
    assert all(r["dead_seen"] > 0 for r in ranks), "no code was ever dead, so none was re-seeded"
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert a.keys() == b.keys()
    differ = [key for key in a if not torch.equal(a[key], b[key])]
    assert not differ, f"{kind}: {differ} differ between the two ranks"
