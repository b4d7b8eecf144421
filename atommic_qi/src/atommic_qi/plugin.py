"""Entry point of atommic-qi: registers its models and config folder with the core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atommic_core import hookimpl


@hookimpl
def atommic_register_models(register: Callable) -> None:
    """Register the quantitative models (imported here: torch loads only when needed)."""
    from atommic_qi.models import qCIRIM, qRIM, qVarNet, qZeroFilled

    for cls in (qZeroFilled, qRIM, qCIRIM, qVarNet):
        register(cls.__name__, cls)


@hookimpl
def atommic_config_dirs() -> list[str]:
    """The folder of example configs shipped with the collection."""
    return [str(Path(__file__).parent / "configs")]
