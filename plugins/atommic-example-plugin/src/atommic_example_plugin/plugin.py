"""Entry point of the example plugin: names only, as lazy references.

Nothing here imports torch: ``python -m atommic_core list`` reads the names, and the classes
in :mod:`atommic_example_plugin.optim` are imported the first time a run uses them.
"""

from __future__ import annotations

from collections.abc import Callable

from atommic_core import hookimpl


@hookimpl
def atommic_register_optimizers(register: Callable) -> None:
    """Make ``model.optim.name: lamb`` available."""
    register("lamb", "atommic_example_plugin.optim:Lamb",
             "atommic_example_plugin.optim:LambParams")


@hookimpl
def atommic_register_schedulers(register: Callable) -> None:
    """Make ``model.optim.sched.name: WarmupCosineRestarts`` available."""
    register("WarmupCosineRestarts", "atommic_example_plugin.optim:WarmupCosineRestarts",
             "atommic_example_plugin.optim:WarmupCosineRestartsParams")
