"""Entry point of atommic-rec: registers its models and config folder with the core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atommic_core import hookimpl


@hookimpl
def atommic_register_models(register: Callable) -> None:
    """Register the reconstruction models (imported here: torch loads only when needed)."""
    from atommic_rec.models import CIRIM, RIM, UNet, VarNet, ZeroFilled

    for cls in (ZeroFilled, UNet, VarNet, CIRIM, RIM):
        register(cls.__name__, cls)
    from atommic_rec.models import (
        DUNet,
        JointICNet,
        MoDL,
        ProximalGradient,
        RecurrentVarNet,
        VSNet,
    )

    for cls in (MoDL, VSNet, ProximalGradient, DUNet, RecurrentVarNet, JointICNet):
        register(cls.__name__, cls)


@hookimpl
def atommic_config_dirs() -> list[str]:
    """The folder of example configs shipped with the collection."""
    return [str(Path(__file__).parent / "configs")]
