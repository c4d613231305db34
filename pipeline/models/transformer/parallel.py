"""Data-parallel training: what the training loop needs to know when a launcher started it.

Under ``torchrun`` or ``accelerate launch`` with N processes (see ``pipeline.engines.launch``,
which sets up the process group), every process builds the same global batches from the same
seed and takes its shard of each: process ``r`` the examples ``r, r + N, r + 2N...`` of the batch.
Each shard's loss is its summed per-example loss over the *global* batch's element count, times
N, because DistributedDataParallel averages gradients over the N processes: the averaged gradient
is then exactly the single-process gradient of the mean loss over the global batch, whatever the
shard sizes. The global batch size, the number of steps and the learning-rate schedule are those
of one process. One process (``world_size() == 1``, no process group) is the plain loop.
"""

from __future__ import annotations

from typing import Any


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else 0


def world_size() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else 1


def is_main() -> bool:
    """Whether this process logs, writes checkpoints and saves the model (rank 0, or the only one)."""
    return rank() == 0


def local_device(device):
    """Under a launcher on GPUs, each process takes the GPU of its local rank."""
    import os

    import torch

    if world_size() > 1 and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def wrap(model, device):
    """DistributedDataParallel around ``model`` when there are several processes, else ``model``."""
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard(indices: list[int]) -> list[int]:
    """This process's examples of a global batch."""
    return indices[rank() :: world_size()]


def all_sum(value: float, device) -> float:
    """The sum of ``value`` over processes (the value itself in one process)."""
    dist = _dist()
    if dist is None:
        return value
    import torch

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def gather(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` in one process)."""
    dist = _dist()
    if dist is None:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    dist = _dist()
    if dist is not None:
        dist.barrier()
