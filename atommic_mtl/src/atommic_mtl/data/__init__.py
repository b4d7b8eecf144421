"""Joint reconstruction + segmentation data: REC's HDF5 layout plus ``segmentation`` labels."""

from atommic_mtl.data.build import build_mtl_dataset, joint_transform_config
from atommic_mtl.data.dataset import JointSliceDataset
from atommic_mtl.data.labels import LABEL_MODES, LabelInfo, LabelReader, inspect_labels
from atommic_mtl.data.transforms import (
    JointAugment,
    JointFinalize,
    SegmentationCrop,
    SegmentationPad,
)

__all__ = [
    "LABEL_MODES",
    "JointAugment",
    "JointFinalize",
    "JointSliceDataset",
    "LabelInfo",
    "LabelReader",
    "SegmentationCrop",
    "SegmentationPad",
    "build_mtl_dataset",
    "inspect_labels",
    "joint_transform_config",
]
