"""fastMRI-layout HDF5 data for reconstruction: the slice dataset and the demo data."""

from atommic_rec.data.build import build_rec_dataset, default_transform_config
from atommic_rec.data.slice_dataset import DataFileError, SliceDataset, VolumeInfo, list_files

__all__ = [
    "DataFileError",
    "SliceDataset",
    "VolumeInfo",
    "build_rec_dataset",
    "default_transform_config",
    "list_files",
]
