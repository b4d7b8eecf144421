"""Return freed CPU heap memory to the OS (glibc), a no-op elsewhere.

Recomputing activations (checkpointing) frees and re-allocates many same-sized activation
buffers. glibc serves buffers above its mmap threshold with their own mappings (unmapped on
free), but it raises that threshold to the size of the first such buffer freed, after which
the buffers come from the heap, whose freed pages stay resident: the process's resident
memory grows well past what is live. The memory-efficient recurrent models trim the heap
after each recomputed block; when they recompute single time steps (the least-memory modes)
they also, once per process, fix the threshold at 1 MiB (unless ``MALLOC_MMAP_THRESHOLD_`` is
set, which glibc honours itself). That costs time, since every large buffer then comes from
fresh zeroed pages (a CIRIM step at 4x128x128 took ~1.5x as long for 0.63 instead of 0.84 GiB
peak), so the faster modes leave glibc's default alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

import torch

__all__ = ["release_cpu_memory"]

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20


@functools.lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 -- both exist in glibc only (not musl)
    except (OSError, AttributeError):
        return None
    return libc


@functools.lru_cache(maxsize=1)
def _fix_mmap_threshold() -> bool:
    """Stop glibc's dynamic mmap threshold (once per process); True if set here."""
    libc = _libc()
    if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_cpu_memory(tensor: torch.Tensor, least_memory: bool = False) -> None:
    """Trim the glibc heap if ``tensor`` lives on the CPU (cheap: one ``madvise`` pass).

    Args:
        tensor: Any tensor of the computation (only its device is used).
        least_memory: Also fix glibc's mmap threshold (once per process; slower steps, see
            the module docstring).
    """
    libc = _libc() if tensor.device.type == "cpu" else None
    if libc is not None:
        if least_memory:
            _fix_mmap_threshold()
        libc.malloc_trim(0)
