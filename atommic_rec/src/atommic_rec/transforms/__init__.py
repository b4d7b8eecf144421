"""Small sample-dict transforms for reconstruction, composed as a plain list from YAML.

Default order: ``prewhiten`` -> ``coil_compression`` (both when configured) -> ``crop``/``pad``
-> ``augment`` (training only) -> ``mask`` -> ``sensitivity_maps`` -> ``target`` ->
``initial_image`` -> ``normalize`` -> ``finalize``.
"""

from atommic_rec.transforms._rng import item_draws
from atommic_rec.transforms.augment import (
    AUGMENTATIONS,
    Augment,
    augment_transform_config,
    reflect_frequencies,
)
from atommic_rec.transforms.coil_mixing import NOISE_KEY, CompressCoils, Prewhiten
from atommic_rec.transforms.coils import (
    EstimateSensitivityMaps,
    InitialImage,
    Target,
    count_center_lines,
)
from atommic_rec.transforms.compose import (
    TRANSFORMS,
    Compose,
    build_transforms,
    register_transform,
)
from atommic_rec.transforms.finalize import SAMPLE_KEYS, Finalize
from atommic_rec.transforms.masking import Mask, acceleration_of
from atommic_rec.transforms.normalize import Normalize, normalization_factor
from atommic_rec.transforms.spatial import Crop, ZeroPad, center_crop_or_pad
from atommic_rec.transforms.ssdu import SSDUSplit, ssdu_split_mask

__all__ = [
    "AUGMENTATIONS",
    "NOISE_KEY",
    "SAMPLE_KEYS",
    "TRANSFORMS",
    "Augment",
    "Compose",
    "CompressCoils",
    "Crop",
    "EstimateSensitivityMaps",
    "Finalize",
    "InitialImage",
    "Mask",
    "Normalize",
    "Prewhiten",
    "SSDUSplit",
    "Target",
    "ZeroPad",
    "acceleration_of",
    "augment_transform_config",
    "build_transforms",
    "center_crop_or_pad",
    "count_center_lines",
    "item_draws",
    "normalization_factor",
    "reflect_frequencies",
    "register_transform",
    "ssdu_split_mask",
]
