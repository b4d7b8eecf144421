"""Multi-echo HDF5 data for quantitative mapping: the dataset, its transforms, demo data."""

from atommic_qi.data.build import build_qi_dataset, default_qi_transform_config
from atommic_qi.data.dataset import MAP_TARGET_KEYS, EchoVolumeInfo, MultiEchoSliceDataset

__all__ = [
    "MAP_TARGET_KEYS",
    "EchoVolumeInfo",
    "MultiEchoSliceDataset",
    "build_qi_dataset",
    "default_qi_transform_config",
]
