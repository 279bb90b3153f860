"""Distributed data parallel: on when the run was launched by ``torchrun`` (which sets RANK,
WORLD_SIZE and LOCAL_RANK), a no-op for a plain single process.

gloo on CPU, nccl on CUDA; each process takes the GPU of its LOCAL_RANK. Only rank 0 writes
checkpoints, logs and progress bars; results needed by every rank (validation outputs, RNG
states for the resume file) are gathered with the object collectives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from avaffect.errors import AvaffectError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: the process's GPU if CUDA is there, else the CPU; or a torch device string."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AvaffectError(f"device {name!r} is not a torch device; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AvaffectError(f"device {name!r} asked for, but this torch sees no CUDA GPU; use device=cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def setup(device_name: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun; otherwise a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=pick_device(device_name))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_gather(ctx: DistContext, value) -> list:
    """Every rank's ``value`` (any picklable object), in rank order; ``[value]`` when alone."""
    if not ctx.enabled:
        return [value]
    out: list = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def wrap(module: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """DDP around ``module`` when distributed. ``find_unused_parameters``: a task head whose
    labels a batch lacks still gets an (attached zero) loss, but a model may hold parameters
    that a given run never uses (e.g. the heads an init checkpoint brought along)."""
    if not ctx.enabled:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)
