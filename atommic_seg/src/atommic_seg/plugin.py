"""Entry point of atommic-seg: registers its models and config folder with the core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atommic_core import hookimpl


@hookimpl
def atommic_register_models(register: Callable) -> None:
    """Register the seven segmentation models as lazy references (imported on first use)."""
    register("SegmentationUNet", "atommic_seg.models.zoo:SegmentationUNet")
    register("SegmentationUNet3D", "atommic_seg.models.zoo:SegmentationUNet3D")
    register("SegmentationAttentionUNet", "atommic_seg.models.zoo:SegmentationAttentionUNet")
    register("SegmentationDynUNet", "atommic_seg.models.zoo:SegmentationDynUNet")
    register("SegmentationVNet", "atommic_seg.models.zoo:SegmentationVNet")
    register("SegmentationUNETR", "atommic_seg.models.zoo:SegmentationUNETR")
    register("SegmentationLambdaUNet", "atommic_seg.models.zoo:SegmentationLambdaUNet")


@hookimpl
def atommic_config_dirs() -> list[str]:
    """The folder of example configs shipped with the collection."""
    return [str(Path(__file__).parent / "configs")]


@hookimpl
def atommic_register_pretrained(register: Callable) -> None:
    """The demo U-Net, once ``train --config-name seg_demo_unet`` has published it."""
    from atommic_core.model.pretrained import published_entry

    register(published_entry(
        "seg_demo_unet", "2D U-Net trained by `python -m atommic_core train --config-name "
        "seg_demo_unet` (ICBM152 demo data: CSF, grey and white matter)",
        "atommic_seg.models.zoo.SegmentationUNet"))
