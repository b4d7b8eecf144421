"""The core's own plugin: built-in optimizers and schedulers, registered like any plugin."""

from __future__ import annotations

from collections.abc import Callable

from atommic_core.hookspecs import hookimpl


@hookimpl
def atommic_register_optimizers(register: Callable) -> None:
    """Register torch's optimizers and the core's NovoGrad and Lion."""
    from atommic_core.optim._builtin_optimizers import register_builtin_optimizers

    register_builtin_optimizers(register)


@hookimpl
def atommic_register_schedulers(register: Callable) -> None:
    """Register the core's warmup/annealing policies and torch's schedulers."""
    from atommic_core.optim._builtin_schedulers import register_builtin_schedulers

    register_builtin_schedulers(register)
