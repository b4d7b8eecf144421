"""A numpy generator private to one transform and one process, for training-time draws."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from torch.utils.data import get_worker_info

__all__ = ["WorkerGenerator"]


class WorkerGenerator:
    """Lazily seeded ``numpy.random.Generator``, one per process and DataLoader worker.

    The generator is seeded from ``seed`` and, inside a DataLoader worker, the worker's seed
    (which the DataLoader derives from its own generator): every draw is new, runs are
    reproducible, and the global numpy/random/torch RNGs are never touched. A pickled copy (a
    worker's) starts without a generator and seeds its own. ``seed=None`` outside a worker
    draws fresh OS entropy.

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
        """The generator of the current process/worker (created on first use)."""
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
