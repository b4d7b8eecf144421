"""Optimizer registry: ``AVAILABLE_OPTIMIZERS``, ``register_optimizer``, ``get_optimizer``."""

from __future__ import annotations

import functools
from typing import Any

from atommic_core.registry import optimizers as AVAILABLE_OPTIMIZERS

__all__ = ["AVAILABLE_OPTIMIZERS", "get_optimizer", "register_optimizer"]


def register_optimizer(name: str, optimizer_cls: type, params_dataclass: type) -> None:
    """Add an optimizer at run time; a duplicate name raises ``PluginError``."""
    AVAILABLE_OPTIMIZERS.register(name, optimizer_cls, params_dataclass)


def get_optimizer(name: str, **kwargs: Any) -> Any:
    """Return ``partial(optimizer_cls, **kwargs)`` for the registered ``name``."""
    return functools.partial(AVAILABLE_OPTIMIZERS[name], **kwargs)
