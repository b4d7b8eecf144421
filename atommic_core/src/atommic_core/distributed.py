"""Distributed evaluation that scores every group (a volume, a case) whole and exactly once.

Lightning's default ``DistributedSampler`` deals examples round-robin and pads the last round
with repeats, so under DDP every rank sees half of each volume's slices and some slices twice:
per-volume metrics computed on a rank are then wrong. A dataset opts into exact evaluation by
exposing ``example_groups`` (one hashable key per example, e.g. its file name);
:meth:`atommic_core.ModelPT.build_dataloader` then gives validation, test and predict loaders a
:class:`GroupedDistributedSampler`, which sends each group whole to one rank and repeats
nothing. Models gather their per-group results with :func:`all_gather_objects`.

This module is task-agnostic: it knows groups, not volumes.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import torch.distributed as dist
from torch.utils.data import DistributedSampler

from atommic_core.errors import ConfigError

__all__ = ["GroupedDistributedSampler", "all_gather_objects", "assign_groups", "gather_groups",
           "world"]

LOG = logging.getLogger(__name__)
V = TypeVar("V")


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def assign_groups(groups: Sequence[Hashable], world_size: int) -> list[list[int]]:
    """Split example indices into ``world_size`` lists, keeping every group on one rank.

    Groups are placed largest first on the least loaded rank (ties: the lower rank), so ranks
    get about equal numbers of examples; within a rank, examples keep dataset order.
    Deterministic: every rank computes the same split without communicating.

    Args:
        groups: The group key of each example.
        world_size: Number of ranks (>= 1).

    Returns:
        One sorted list of example indices per rank.
    """
    members: dict[Hashable, list[int]] = {}
    for index, key in enumerate(groups):
        members.setdefault(key, []).append(index)
    load = [0] * world_size
    per_rank: list[list[int]] = [[] for _ in range(world_size)]
    order = sorted(members.values(), key=lambda idx: (-len(idx), idx[0]))
    for indices in order:
        rank = min(range(world_size), key=lambda r: (load[r], r))
        per_rank[rank].extend(indices)
        load[rank] += len(indices)
    return [sorted(indices) for indices in per_rank]


class GroupedDistributedSampler(DistributedSampler):
    """Evaluation sampler: each group of examples goes whole to exactly one rank, no padding.

    Rank and world size are read from ``torch.distributed`` when iteration starts (the loader
    may be built before the process group exists); without a process group it yields every
    index in order. Ranks may get different numbers of examples. Subclassing
    ``DistributedSampler`` tells Lightning to keep this sampler instead of replacing it.

    Args:
        groups: The group key of each example (``len(groups) == len(dataset)``).

    Raises:
        ConfigError: When iterating with more ranks than groups (a rank would have nothing
            to evaluate and the others would wait for it).
    """

    def __init__(self, groups: Sequence[Hashable]) -> None:
        # DistributedSampler's own state is not used: rank and size are resolved per epoch.
        self.groups = list(groups)
        self.epoch, self.seed, self.shuffle, self.drop_last = 0, 0, False, False

    @property
    def rank(self) -> int:  # noqa: D102 - DistributedSampler attribute
        return world()[0]

    @property
    def num_replicas(self) -> int:  # noqa: D102 - DistributedSampler attribute
        return world()[1]

    def _indices(self) -> list[int]:
        rank, size = world()
        if size == 1:
            return list(range(len(self.groups)))
        count = len(set(self.groups))
        if count < size:
            raise ConfigError(f"distributed evaluation: expected at least as many volumes/cases "
                              f"as processes; found {count} for {size} processes; hint: "
                              "evaluate with trainer.devices=1 or add data")
        return assign_groups(self.groups, size)[rank]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())

    def set_epoch(self, epoch: int) -> None:
        """Kept for Lightning; the split does not depend on the epoch."""
        self.epoch = epoch


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed.

    A collective call: every rank must reach it, or the others wait.

    Args:
        obj: This rank's value.

    Returns:
        The list of all ranks' values, the same on every rank.
    """
    _, size = world()
    if size == 1:
        return [obj]
    out: list[Any] = [None] * size
    dist.all_gather_object(out, obj)
    return out


def gather_groups(local: Mapping[str, V], what: str = "metrics") -> dict[str, V]:
    """Every rank's per-group results (e.g. per-volume metrics) merged into one dict.

    A collective call (every rank must reach it); the result is the same on every rank. A
    group found on more than one rank was split across processes (its dataset has no
    ``example_groups``), so each part was scored from some of its examples: rank 0 warns once.

    Args:
        local: This rank's results, keyed by group name.
        what: What the results are, for the warning (e.g. ``"val metrics"``).

    Returns:
        ``{group: result}`` over all ranks (a split group keeps the last rank's part).
    """
    merged: dict[str, V] = {}
    split: set[str] = set()
    for part in all_gather_objects(dict(local)):
        split.update(name for name in part if name in merged)
        merged.update(part)
    if split and world()[0] == 0:
        LOG.warning("%s: group(s) %s were split across processes and are scored from part of "
                    "their examples; hint: give the dataset example_groups (the volume or case "
                    "of each example) for exact distributed evaluation", what,
                    ", ".join(sorted(split)))
    return merged
