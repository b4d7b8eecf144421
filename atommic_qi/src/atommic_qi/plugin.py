"""Entry point of atommic-qi: registers its models and config folder with the core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atommic_core import hookimpl


@hookimpl
def atommic_register_models(register: Callable) -> None:
    """Register the quantitative models as lazy references (imported on first use)."""
    register("qZeroFilled", "atommic_qi.models:qZeroFilled")
    register("qRIM", "atommic_qi.models:qRIM")
    register("qCIRIM", "atommic_qi.models:qCIRIM")
    register("qVarNet", "atommic_qi.models:qVarNet")


@hookimpl
def atommic_config_dirs() -> list[str]:
    """The folder of example configs shipped with the collection."""
    return [str(Path(__file__).parent / "configs")]
