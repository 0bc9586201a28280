"""Devices and parallelism: CPU by default, one CUDA GPU with bf16 autocast, DDP under torchrun.

The same training code runs everywhere: `dscodec train` started by torchrun (which sets
RANK/WORLD_SIZE/LOCAL_RANK) joins a process group and wraps the trainable modules in
DistributedDataParallel; started directly it runs in one process. The paper trained on
2x V100; configs/paper.yaml sets `train.gpus: 2` and the Snakemake rule launches
`torchrun --nproc_per_node 2` (see profiles/README.md).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

from dscodec.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def select_device(preference: str, local_rank: int = 0) -> torch.device:
    """`auto` -> cuda when present else cpu; `cuda` without a GPU is a ConfigError."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"`device`: unknown device {preference!r}; expected auto, cpu or cuda")
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("`device: cuda` but no CUDA GPU is visible (set `device: auto` or `cpu`)")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def setup(preference: str) -> DistInfo:
    """Join the process group when launched by torchrun; otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(preference, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, device)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_true(flag: bool, info: DistInfo) -> bool:
    """True only if `flag` holds on every rank, so that all ranks skip a step together."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast on CUDA (`bf16`, or `auto` on GPUs with native bf16: Ampere and later);
    fp32 on CPU, where bf16 is slower and less exact, and on V100s, which lack bf16."""
    if precision == "bf16" and device.type != "cuda":
        raise ConfigError("`train.precision: bf16` needs a CUDA device")
    if device.type != "cuda" or precision == "fp32":
        return False
    return precision == "bf16" or torch.cuda.is_bf16_supported(including_emulation=False)


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool) -> Iterator[None]:
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled):
        yield


def wrap_ddp(module: nn.Module, info: DistInfo) -> nn.Module:
    """DDP-wrap a module that has trainable parameters (frozen ones are ignored by DDP)."""
    if not info.distributed or not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)


def maybe_compile(module: nn.Module, enabled: bool) -> nn.Module:
    """torch.compile when asked (`train.compile`); the plain module keeps the weights."""
    return torch.compile(module) if enabled else module


def unwrap(module: nn.Module) -> nn.Module:
    inner = getattr(module, "module", module)
    return getattr(inner, "_orig_mod", inner)
