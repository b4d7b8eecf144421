"""Segmentation models: the shared ``SegmentationModel`` base and the seven networks."""

from atommic_seg.models.base import SegmentationModel
from atommic_seg.models.zoo import (
    MODELS,
    SegmentationAttentionUNet,
    SegmentationDynUNet,
    SegmentationLambdaUNet,
    SegmentationUNet,
    SegmentationUNet3D,
    SegmentationUNETR,
    SegmentationVNet,
)

__all__ = [
    "MODELS",
    "SegmentationAttentionUNet",
    "SegmentationDynUNet",
    "SegmentationLambdaUNet",
    "SegmentationModel",
    "SegmentationUNETR",
    "SegmentationUNet",
    "SegmentationUNet3D",
    "SegmentationVNet",
]
