"""Training started by a launcher: ``torchrun`` or ``accelerate launch`` with N processes.

A launcher starts N copies of the same command and tells each its place through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). ``process_group``
reads them, joins the processes (``gloo`` on CPUs, ``nccl`` on GPUs) for the length of the
command, and leaves the process group afterwards. Without a launcher (``WORLD_SIZE`` unset or 1)
it does nothing: the command is the ordinary single-process one.

How the work is divided is the model's business (``pipeline.models.transformer.parallel``);
what the command does besides training is decided here: only rank 0 writes the model, logs to
MLflow and prints; the other processes train their shard and stay quiet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.core.errors import PipelineError

# Model kinds whose training divides its batches between processes.
DATA_PARALLEL_KINDS = ("transformer",)


def launched_world_size() -> int:
    """How many processes the launcher started (1 without a launcher)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return max(1, int(value))
    except ValueError:
        raise PipelineError(f"WORLD_SIZE={value!r}: expected a whole number (set by torchrun or accelerate)") from None


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if launched_world_size() > 1 else 0


def is_main_process() -> bool:
    return rank() == 0


@contextmanager
def process_group(kind: str) -> Iterator[int]:
    """Join the launcher's processes for the block (nothing without a launcher); yield this
    process's rank. A kind that cannot train data-parallel is refused under a launcher rather
    than trained N times over."""
    world = launched_world_size()
    if world == 1:
        yield 0
        return
    if kind not in DATA_PARALLEL_KINDS:
        raise PipelineError(
            f"--model {kind}: trains in one process; only {', '.join(DATA_PARALLEL_KINDS)} trains data-parallel "
            f"under torchrun or accelerate launch (found WORLD_SIZE={world})"
        )
    import torch
    import torch.distributed as dist

    from pipeline.core.progress import set_quiet

    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    if dist.get_rank() != 0:
        set_quiet(True)  # one set of progress bars, rank 0's
    try:
        yield dist.get_rank()
    finally:
        dist.destroy_process_group()
