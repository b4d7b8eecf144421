"""Entry point of atommic-rec: registers its models and config folder with the core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atommic_core import hookimpl


@hookimpl
def atommic_register_models(register: Callable) -> None:
    """Register the reconstruction models as lazy references (imported on first use)."""
    register("ZeroFilled", "atommic_rec.models:ZeroFilled")
    register("UNet", "atommic_rec.models:UNet")
    register("VarNet", "atommic_rec.models:VarNet")
    register("CIRIM", "atommic_rec.models:CIRIM")
    register("RIM", "atommic_rec.models:RIM")
    register("CascadeNet", "atommic_rec.models:CascadeNet")
    register("CRNNet", "atommic_rec.models:CRNNet")
    register("KIKINet", "atommic_rec.models:KIKINet")
    register("LPDNet", "atommic_rec.models:LPDNet")
    register("MultiDomainNet", "atommic_rec.models:MultiDomainNet")
    register("XPDNet", "atommic_rec.models:XPDNet")
    register("MoDL", "atommic_rec.models:MoDL")
    register("VSNet", "atommic_rec.models:VSNet")
    register("ProximalGradient", "atommic_rec.models:ProximalGradient")
    register("DUNet", "atommic_rec.models:DUNet")
    register("RecurrentVarNet", "atommic_rec.models:RecurrentVarNet")
    register("JointICNet", "atommic_rec.models:JointICNet")


@hookimpl
def atommic_config_dirs() -> list[str]:
    """The folder of example configs shipped with the collection."""
    return [str(Path(__file__).parent / "configs")]


@hookimpl
def atommic_register_pretrained(register: Callable) -> None:
    """The demo VarNet, once ``python -m atommic_rec demo`` has trained and published it."""
    from atommic_core.model.pretrained import published_entry

    register(published_entry(
        "rec_demo_varnet", "VarNet trained by `python -m atommic_rec demo` (simulated "
        "ICBM152 8-coil brain, 4x random 1D mask)", "atommic_rec.models.VarNet"))
