"""Worker of the 2-process sampler test (own module: spawned children import only torch)."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist

from atommic_core.distributed import GroupedDistributedSampler, all_gather_objects
from atommic_core.errors import ConfigError


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gather_sampled(rank: int, size: int, port: int, groups: list, out: str) -> None:
    """Iterate the sampler on this rank, gather every rank's indices to ``out`` (rank 0)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=size)
    try:
        gathered = all_gather_objects(list(GroupedDistributedSampler(groups)))
        if rank == 0:
            torch.save(gathered, out)
        try:
            list(GroupedDistributedSampler(groups[:1]))
        except ConfigError as exc:
            if rank == 0:
                torch.save(str(exc), out + ".err")
    finally:
        dist.destroy_process_group()
