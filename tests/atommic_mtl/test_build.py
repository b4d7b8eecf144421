"""build_mtl_dataset: REC's chain plus the label path, model keys inherited, config errors."""

from __future__ import annotations

import pytest

from atommic_core.errors import ConfigError
from atommic_mtl.data import build_mtl_dataset, joint_transform_config

MASK = {"type": "random1d", "accelerations": [4], "center_fractions": [0.08]}


def _names(chain):
    return [item["name"] for item in chain]


def test_default_chain_inserts_the_label_path():
    cfg = {"crop_size": [24, 24], "mask_args": MASK, "augmentations": {"flip": 0.5}, "seed": 3}
    assert _names(joint_transform_config(cfg, "train")) == [
        "crop", "segmentation_crop", "joint_augment", "mask", "sensitivity_maps", "target",
        "initial_image", "normalize", "joint_finalize"]
    chain = joint_transform_config(cfg, "train")
    assert chain[1]["size"] == [24, 24] and chain[2]["seed"] == 3
    # augmentation is for training only; prediction labels are optional
    val = joint_transform_config(cfg, "validation")
    assert "joint_augment" not in _names(val) and val[-1]["require_segmentation"]
    assert not joint_transform_config(cfg, "predict")[-1]["require_segmentation"]


def test_a_flip_key_points_to_augmentations(mtl_data):
    with pytest.raises(ConfigError, match=r"expected no 'flip' key.*hint: use augmentations"):
        build_mtl_dataset({"data_path": str(mtl_data / "train"), "flip": {"prob": 0.5}}, "train")


def test_custom_chain_must_end_with_joint_finalize(mtl_data):
    with pytest.raises(ConfigError, match=r"must end with \{name: joint_finalize\}.*'finalize'"):
        build_mtl_dataset({"data_path": str(mtl_data / "train"),
                           "transforms": [{"name": "mask"}, {"name": "finalize"}]}, "train")


def test_missing_data_path_names_the_demo_command():
    with pytest.raises(ConfigError, match="python -m atommic_mtl make-demo-data"):
        build_mtl_dataset({}, "train")


def test_model_keys_are_inherited(mtl_data):
    with pytest.raises(ConfigError, match=r"contradicts model.fft_normalization"):
        build_mtl_dataset({"data_path": str(mtl_data / "train"), "fft_normalization": "backward"},
                          "train", {"fft_normalization": "ortho"})


def test_multilabel_model_gets_one_hot_labels(mtl_data):
    dataset = build_mtl_dataset({"data_path": str(mtl_data / "val"), "mask_args": MASK},
                                "validation", {"label_mode": "multilabel", "num_classes": 4})
    labels = dataset[0]["segmentation"]
    assert labels.shape[0] == 4 and labels.dtype.is_floating_point
    assert bool((labels.sum(0) == 1).all())
