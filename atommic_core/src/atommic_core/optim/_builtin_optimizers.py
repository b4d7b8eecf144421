"""Built-in optimizers with their params dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["register_builtin_optimizers"]


@dataclass
class SGDParams:
    """Arguments of ``torch.optim.SGD``."""

    lr: float
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False


@dataclass
class AdamParams:
    """Arguments of ``torch.optim.Adam``."""

    lr: float
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False


def register_builtin_optimizers(register: Callable) -> None:
    """Register the built-ins through the host's ``register``."""
    register("sgd", torch.optim.SGD, SGDParams)
    register("adam", torch.optim.Adam, AdamParams)
