"""Data-parallel training with ``torch.distributed`` (DDP), multi-GPU and multi-node.

Launch ``posetrack train`` with ``torchrun`` (it sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``)::

    torchrun --nproc-per-node 4 --no-python posetrack train data.slp --model topdown --out model
    # several nodes: add --nnodes N --node-rank I --rdzv-endpoint HOST:PORT

:func:`init_from_env` joins the process group (NCCL on CUDA, gloo otherwise) and returns the
:class:`~napari_posetrack.nn.trainer.DistInfo` the trainer uses: every rank draws the same
global batch of ``batch_size * world_size`` indices, trains on its slice, and
``DistributedDataParallel`` averages the gradients, so a run on N processes follows the same
trajectory as one process with an N times larger batch. Rank 0 alone writes checkpoints.
"""

from __future__ import annotations

import os

__all__ = ["init_from_env", "shutdown"]


def init_from_env(backend: str | None = None):
    """Join the process group described by torchrun's environment; None when not distributed."""
    import torch
    import torch.distributed as dist

    from .trainer import DistInfo

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
