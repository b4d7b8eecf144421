"""Optimizer registry: ``AVAILABLE_OPTIMIZERS``, ``register_optimizer``, ``get_optimizer``.

``AVAILABLE_OPTIMIZERS`` is a read-only mapping from lowercase names to optimizer classes.
It is filled lazily by every plugin's ``atommic_register_optimizers`` hook (the core's own
built-ins register the same way), so printing or iterating it shows what is installed::

    >>> from atommic_core.optim.optimizers import AVAILABLE_OPTIMIZERS
    >>> "novograd" in AVAILABLE_OPTIMIZERS
    True
"""

from __future__ import annotations

import functools
from typing import Any

from atommic_core.optim._args import resolve_arguments
from atommic_core.registry import optimizers as AVAILABLE_OPTIMIZERS

__all__ = ["AVAILABLE_OPTIMIZERS", "get_optimizer", "get_optimizer_params", "register_optimizer"]


def register_optimizer(name: str, optimizer_cls: type, params_dataclass: type) -> None:
    """Add an optimizer at run time (e.g. from a notebook).

    Args:
        name: Name usable as ``model.optim.name`` (matched case-insensitively).
        optimizer_cls: A ``torch.optim.Optimizer`` subclass.
        params_dataclass: Dataclass listing the optimizer's keyword arguments with defaults.

    Raises:
        PluginError: If ``name`` is already registered.
    """
    AVAILABLE_OPTIMIZERS.register(name, optimizer_cls, params_dataclass)


def get_optimizer_params(name: str) -> Any:
    """The params dataclass registered with optimizer ``name`` (may be ``None``)."""
    return AVAILABLE_OPTIMIZERS.entry(name).params


def get_optimizer(name: str, **kwargs: Any) -> functools.partial:
    """Resolve ``name`` and bind its arguments, leaving only the parameters to pass.

    Args:
        name: A registered optimizer name, e.g. ``"adamw"``.
        **kwargs: The optimizer's arguments (``lr`` is required); every other argument
            takes the default of the optimizer's params dataclass.

    Returns:
        ``partial(optimizer_cls, **arguments)``; call it with ``model.parameters()`` or a
        list of parameter-group dicts.

    Raises:
        UnknownNameError: If no optimizer has that name (close matches are suggested).
        ConfigError: For an unknown or missing argument.

    Example:
        >>> import torch
        >>> opt = get_optimizer("sgd", lr=0.1)([torch.nn.Parameter(torch.zeros(2))])
        >>> opt.param_groups[0]["lr"]
        0.1
    """
    entry = AVAILABLE_OPTIMIZERS.entry(name)
    arguments = resolve_arguments("optimizer", entry.name, entry.params, kwargs, "model.optim")
    return functools.partial(entry.obj, **arguments)
