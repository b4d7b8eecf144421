"""Entry point of atommic-mtl: registers its models and config folder with the core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atommic_core import hookimpl


@hookimpl
def atommic_register_models(register: Callable) -> None:
    """Register the six multitask models as lazy references (imported on first use)."""
    for name in ("IDSLR", "IDSLRUNet", "MTLRS", "RecSegUNet", "SegNet", "SERANet"):
        register(name, f"atommic_mtl.models:{name}")


@hookimpl
def atommic_config_dirs() -> list[str]:
    """The folder of example configs shipped with the collection."""
    return [str(Path(__file__).parent / "configs")]
