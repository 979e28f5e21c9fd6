"""Distributed data parallel: process-group set-up and tear-down, per-rank shards of a global batch."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
import torch.distributed as dist

from mtlkit.errors import DataError
from mtlkit.train.config import resolve_device

__all__ = ["DistInfo", "init_distributed", "cleanup_distributed", "shard_batch", "to_device"]


# ---------------------------------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` and its device (``world_size == 1``: no DDP)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | torch.device = "cpu") -> DistInfo:
    """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by ``torchrun``) and initialise the process group once.

    Args:
        device: the requested device; under torchrun with CUDA each rank uses ``cuda:LOCAL_RANK``.

    Returns:
        The :class:`DistInfo` (``world_size == 1`` outside torchrun).
    """
    dev = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=dev)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup_distributed() -> None:
    """Destroy the default process group if one is initialised (call once at the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shard_batch(batch: Mapping[str, Any], rank: int, world_size: int) -> dict[str, Any]:
    """This rank's contiguous slice of a global batch (tensors and lists split along dimension 0).

    Args:
        batch: dict of tensors ``(B, ...)`` (and optionally lists of length ``B``).
        rank: this process's rank.
        world_size: number of processes.

    Returns:
        The shard; shards differ by at most one sample when ``B`` is not a multiple of ``world_size``.
    """
    if world_size == 1:
        return dict(batch)
    sizes = {len(v) for v in batch.values() if torch.is_tensor(v) or isinstance(v, list)}
    if len(sizes) != 1:
        raise DataError(f"cannot shard a batch whose entries have different lengths {sorted(sizes)}")
    b = sizes.pop()
    if b < world_size:
        raise DataError(f"global batch of {b} samples cannot be split over {world_size} processes; "
                        f"use a batch size >= world size")
    bounds = np.linspace(0, b, world_size + 1).round().astype(int)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    return {k: v[lo:hi] if (torch.is_tensor(v) or isinstance(v, list)) else v for k, v in batch.items()}


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a batch dict to ``device``."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
