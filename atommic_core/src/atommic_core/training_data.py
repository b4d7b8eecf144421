"""Training data whose randomness is a pure function of (seed, epoch, position).

An interrupted run resumes exactly only if the batches after the interruption are the ones
the uninterrupted run would have seen, with the same masks and augmentations. Random state
that lives in DataLoader workers (seeded per iterator, advanced by whatever each worker drew)
cannot be saved in a checkpoint. Here it does not need to be:

* :class:`ResumableSampler` orders the examples of epoch ``e`` by a permutation drawn from
  ``(seed, e)`` and can start an epoch after its first ``k`` batches;
* datasets draw per-item randomness from :func:`item_rng` ``(seed, epoch, index)``, reading
  the epoch from a :class:`SharedEpoch` that the main process updates and that worker
  processes (also persistent ones) see.

The checkpoint then needs only ``(epoch, batches done)``, which :class:`~atommic_core.ModelPT`
stores and restores. Results also no longer depend on ``num_workers``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from atommic_core.distributed import world

__all__ = ["ResumableDataLoader", "ResumableSampler", "SharedEpoch", "item_rng", "resume_loader"]


class SharedEpoch:
    """An epoch number in shared memory: set in the main process, read in every worker.

    ``set_epoch`` on a dataset copy inside a persistent DataLoader worker never happens (the
    worker holds its own copy); a shared-memory tensor is the one value both sides see.
    """

    def __init__(self) -> None:
        self._value = torch.zeros((), dtype=torch.int64).share_memory_()

    def set(self, epoch: int) -> None:
        """Set the epoch (main process)."""
        self._value.fill_(int(epoch))

    def get(self) -> int:
        """The current epoch (any process)."""
        return int(self._value)


def item_rng(seed: int, epoch: int, index: int, *salt: int) -> np.random.Generator:
    """A generator private to one item of one epoch (global RNGs untouched).

    Args:
        seed: The run's (or split's) seed.
        epoch: The training epoch.
        index: The item's dataset index.
        *salt: Extra integers to separate independent streams (e.g. mask vs augmentation).

    Returns:
        ``numpy.random.Generator`` seeded by ``(seed, epoch, index, *salt)``.
    """
    return np.random.default_rng([int(seed) % 2**63, int(epoch), int(index), *map(int, salt)])


class ResumableSampler(DistributedSampler):
    """Training sampler: order from ``(seed, epoch)``, sharded by rank, resumable mid-epoch.

    Without a process group it yields every index of the epoch (shuffled or in order). Under
    DDP each rank takes every ``world_size``-th index of the (padded) permutation, like
    ``DistributedSampler``; rank and world size are read when iteration starts. Subclassing
    ``DistributedSampler`` tells Lightning to keep this sampler and to call :meth:`set_epoch`.

    Args:
        num_examples: Dataset length.
        seed: Seed of the permutations.
        shuffle: Shuffle each epoch (else dataset order).
        batch_size: Examples per batch (to skip whole batches when resuming).
        drop_last: Whether the loader drops the last incomplete batch.
    """

    def __init__(self, num_examples: int, seed: int, shuffle: bool = True,
                 batch_size: int = 1, drop_last: bool = False) -> None:
        self.num_examples, self.seed, self.shuffle = int(num_examples), int(seed), bool(shuffle)
        self.batch_size, self.drop_last = max(int(batch_size), 1), bool(drop_last)
        self.epoch = 0
        self._skip_batches = 0

    @property
    def rank(self) -> int:  # noqa: D102 - DistributedSampler attribute
        return world()[0]

    @property
    def num_replicas(self) -> int:  # noqa: D102 - DistributedSampler attribute
        return world()[1]

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch`` from the next iteration on."""
        self.epoch = int(epoch)

    def batches_per_epoch(self) -> int:
        """Batches one rank draws per epoch."""
        per_rank = math.ceil(self.num_examples / self.num_replicas)
        return per_rank // self.batch_size if self.drop_last else \
            math.ceil(per_rank / self.batch_size)

    def resume(self, epoch: int, batches_done: int) -> None:
        """Make the next iteration continue ``epoch`` after its first ``batches_done`` batches.

        A finished epoch (``batches_done`` >= :meth:`batches_per_epoch`) continues with the
        start of the next one.
        """
        if batches_done >= self.batches_per_epoch():
            epoch, batches_done = epoch + 1, 0
        self.epoch, self._skip_batches = int(epoch), int(batches_done)

    def _epoch_indices(self) -> list[int]:
        if self.shuffle:
            state = np.random.SeedSequence([self.seed % 2**63, self.epoch]).generate_state(2)
            gen = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
            order = torch.randperm(self.num_examples, generator=gen).tolist()
        else:
            order = list(range(self.num_examples))
        rank, size = world()
        if size > 1 and order:  # pad by repeating from the start, as DistributedSampler does
            total = math.ceil(len(order) / size) * size
            order = (order * math.ceil(total / len(order)))[:total]
            order = order[rank::size]
        return order

    def __iter__(self) -> Iterator[int]:
        order = self._epoch_indices()
        skip, self._skip_batches = self._skip_batches * self.batch_size, 0
        return iter(order[skip:])

    def __len__(self) -> int:
        return math.ceil(self.num_examples / self.num_replicas)


def resume_loader(loader: Any, epoch: int, batches_done: int) -> None:
    """Continue ``loader``'s :class:`ResumableSampler` after ``batches_done`` of ``epoch``.

    Also sets the dataset's epoch (``set_epoch``) before any worker starts, so per-item
    randomness of the resumed epoch is that of the uninterrupted run.

    Args:
        loader: A DataLoader (anything else is left alone).
        epoch: The epoch the checkpoint was written in.
        batches_done: Batches of that epoch whose optimizer step the checkpoint includes.
    """
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, ResumableSampler):
        sampler.resume(epoch, batches_done)
        dataset = getattr(loader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(sampler.epoch)


class ResumableDataLoader(DataLoader):
    """A DataLoader whose state (epoch, batches done) Lightning saves and restores mid-epoch.

    ``progress`` returns the trainer's counters when Lightning asks for the state (it is set
    by :class:`~atommic_core.ModelPT`); without it the state is the sampler's epoch start.
    """

    progress: Callable[[], dict[str, int]] | None = None

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches_done"}`` of the training run."""
        if self.progress is not None:
            return self.progress()
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches_done": 0}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Continue where ``state_dict`` says (before Lightning creates the iterator)."""
        resume_loader(self, int(state_dict["epoch"]), int(state_dict["batches_done"]))
