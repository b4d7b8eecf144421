"""Return freed CPU heap memory to the OS (glibc ``malloc_trim``), a no-op elsewhere.

Recomputing time steps (activation checkpointing) frees and re-allocates many same-sized
activation buffers; glibc keeps freed heap pages resident, so the process's resident memory
grows well past what is live. Trimming after each recomputed step keeps it close to the live
size. Used only by the memory-efficient recurrent models on the CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

import torch

__all__ = ["release_cpu_memory"]


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None


def release_cpu_memory(tensor: torch.Tensor) -> None:
    """Trim the glibc heap if ``tensor`` lives on the CPU (cheap: one ``madvise`` pass).

    Args:
        tensor: Any tensor of the computation (only its device is used).
    """
    trim = _malloc_trim() if tensor.device.type == "cpu" else None
    if trim is not None:
        trim(0)
