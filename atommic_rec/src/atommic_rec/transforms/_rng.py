"""Generators for training-time draws: per item when the dataset says which item, else per worker.

A dataset that knows the item being made (``SliceDataset``) wraps its transform call in
:func:`item_draws`; every :class:`WorkerGenerator` used inside then draws from
``item_rng(seed, epoch, index, stream)``: an item's masks and augmentations depend only on the
run's seed, the epoch and the item, not on which worker made it or what it made before, so a
run resumed mid-epoch draws exactly what the uninterrupted run drew.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
from torch.utils.data import get_worker_info

from atommic_core.training_data import item_rng

__all__ = ["WorkerGenerator", "item_draws"]

_ITEM: ContextVar[dict[str, Any] | None] = ContextVar("atommic_rec_item", default=None)


@contextmanager
def item_draws(seed: int, epoch: int, index: int) -> Iterator[None]:
    """Inside, :meth:`WorkerGenerator.get` returns the generator of item ``index`` of ``epoch``.

    Args:
        seed: The dataset's seed (a transform with its own ``seed`` uses that instead).
        epoch: The training epoch.
        index: The item's dataset index.
    """
    token = _ITEM.set({"key": (int(seed), int(epoch), int(index)), "rngs": {}})
    try:
        yield
    finally:
        _ITEM.reset(token)


class WorkerGenerator:
    """Lazily seeded ``numpy.random.Generator``, per item (see :func:`item_draws`) or per worker.

    Outside :func:`item_draws`, the generator is seeded from ``seed`` and, inside a DataLoader
    worker, the worker's seed (which the DataLoader derives from its own generator): every draw
    is new, runs are reproducible, and the global numpy/random/torch RNGs are never touched. A
    pickled copy (a worker's) starts without a generator and seeds its own. ``seed=None``
    outside a worker draws fresh OS entropy.

    Args:
        seed: Base seed, or None.
        stream: Mixed into the seed so that two transforms with the same ``seed`` draw
            independent streams (0 adds nothing).
    """

    def __init__(self, seed: int | None = None, stream: int = 0) -> None:
        self.seed = seed
        self.stream = int(stream)
        self._rng: np.random.Generator | None = None
        self._owner: tuple[int, int | None] | None = None

    def get(self) -> np.random.Generator:
        """The current item's generator inside :func:`item_draws`, else this process/worker's.

        Within one item the same generator is returned on every call (one stream per
        transform and item).
        """
        item = _ITEM.get()
        if item is not None:
            rng = item["rngs"].get(id(self))
            if rng is None:
                seed, epoch, index = item["key"]
                rng = item_rng(seed if self.seed is None else self.seed, epoch, index,
                               self.stream)
                item["rngs"][id(self)] = rng
            return rng
        info = get_worker_info()
        owner = (os.getpid(), None if info is None else int(info.seed))
        if self._rng is None or owner != self._owner:
            if self.seed is None and info is None:
                entropy = None
            else:
                entropy = [int(self.seed or 0)] + ([] if info is None else [int(info.seed)])
                entropy += [self.stream] if self.stream else []
            self._rng, self._owner = np.random.default_rng(entropy), owner
        return self._rng

    def __getstate__(self) -> dict[str, Any]:
        return {"seed": self.seed, "stream": self.stream, "_rng": None, "_owner": None}

    def __repr__(self) -> str:
        return f"WorkerGenerator(seed={self.seed})"
