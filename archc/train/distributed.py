"""Many processes, many machines: what torchrun sets up, and DistributedDataParallel.

archc has no launcher of its own.  Under ``torchrun --nproc-per-node N [--nnodes M
--rdzv-endpoint HOST:PORT] -m archc train ...``, each process finds its rank and the
world's size in its environment (RANK, WORLD_SIZE, LOCAL_RANK), joins the process group
(NCCL on GPUs, gloo on CPUs) and trains a DistributedDataParallel copy of the model on
its share of each batch: the recipe's batch is the global one.  Rank 0 alone writes
checkpoints, the metrics log and the progress bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(device: str) -> World:
    """The process group torchrun describes in the environment, joined; or one process."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return World()
    import torch.distributed as dist

    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                  int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return world


def leave(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()


def broadcast(world: World, value: float) -> float:
    """Rank 0's ``value`` on every rank (so every rank's schedule decides alike)."""
    if world.size == 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(tensor, 0)
    return float(tensor.item())


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    if world.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
