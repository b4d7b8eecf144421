"""Segmentation data: readers (NIfTI, HDF5), the slice/volume dataset, augmentations, demo data."""

from atommic_seg.data.augment import Augmenter
from atommic_seg.data.dataset import SegmentationDataset
from atommic_seg.data.readers import CaseRef, SegDataError, VolumeCache, find_cases, read_case

__all__ = ["Augmenter", "CaseRef", "SegDataError", "SegmentationDataset", "VolumeCache",
           "find_cases", "read_case"]
