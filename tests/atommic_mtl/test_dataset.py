"""JointSliceDataset: REC samples plus labels, skipping bad files, volumes as groups."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from atommic_core.errors import DataSkipWarning
from atommic_mtl.data import build_mtl_dataset
from atommic_rec.data import DataFileError
from atommic_rec.physics import ifft2, sense_reduce

MASK = {"type": "random1d", "accelerations": [4], "center_fractions": [0.08]}


def _build(path, split="train", **cfg):
    return build_mtl_dataset({"data_path": str(path), "mask_args": MASK, "seed": 0, **cfg}, split,
                             {"num_classes": 4})


def test_items_carry_the_file_labels_of_their_slice(mtl_data):
    dataset = _build(mtl_data / "train", "validation")
    assert len(dataset) == 6 and dataset.example_groups == [0, 0, 0, 1, 1, 1]
    for index in (0, 4):
        item = dataset[index]
        with h5py.File(mtl_data / "train" / item["fname"]) as f:
            labels = f["segmentation"][item["slice_idx"]]
            spacing = f.attrs["spacing"]
        assert torch.equal(item["segmentation"], torch.from_numpy(labels).long())
        assert item["spacing"].tolist() == pytest.approx(list(spacing))
        assert item["segmentation"].shape == item["target"].shape


def test_augmented_training_items_keep_image_and_labels_together(mtl_data):
    """The labels of a flipped and transposed item are the file labels moved alike, and so is
    the target (the global phase and coil order leave both unchanged)."""
    dataset = _build(mtl_data / "train", normalize="none", augmentations={
        "flip": 1.0, "transpose": 1.0, "global_phase": True, "coil_permutation": True})
    item = dataset[1]
    with h5py.File(mtl_data / "train" / item["fname"]) as f:
        labels = torch.from_numpy(f["segmentation"][item["slice_idx"]]).long()
        kspace = torch.from_numpy(f["kspace"][item["slice_idx"]])
        maps = torch.from_numpy(f["sensitivity_map"][item["slice_idx"]])
    assert torch.equal(item["segmentation"], labels.flip([-2, -1]).transpose(-2, -1))
    target = sense_reduce(ifft2(kspace), maps).abs().flip([-2, -1]).transpose(-2, -1)
    torch.testing.assert_close(item["target"], target, atol=1e-4, rtol=1e-4)


def test_bad_labels_fail_at_construction_or_are_skipped(mtl_data, tmp_path):
    for name in ("mtl_train_000.h5", "mtl_train_001.h5"):
        (tmp_path / name).write_bytes((mtl_data / "train" / name).read_bytes())
    with h5py.File(tmp_path / "mtl_train_001.h5", "a") as f:
        labels = f["segmentation"][()].astype(np.float32)
        labels[1, 0, 0] = np.nan
        del f["segmentation"]
        f["segmentation"] = labels
    with pytest.raises(DataFileError, match=r"mtl_train_001.h5: slice 1: segmentation holds 1 "
                                            "NaN/Inf"):
        _build(tmp_path)
    with pytest.warns(DataSkipWarning, match="skipping bad file: .*mtl_train_001.h5"):
        dataset = _build(tmp_path, skip_bad_files=True)
    assert len(dataset) == 3 and {dataset[i]["fname"] for i in range(3)} == {"mtl_train_000.h5"}
    assert dataset.example_groups == [0, 0, 0]


def test_prediction_data_may_lack_labels(mtl_data, tmp_path):
    name = "mtl_test_000.h5"
    (tmp_path / name).write_bytes((mtl_data / "test" / name).read_bytes())
    with h5py.File(tmp_path / name, "a") as f:
        del f["segmentation"]
    item = _build(tmp_path, "predict")[0]
    assert "segmentation" not in item and item["target"].shape == (32, 32)
    with pytest.raises(DataFileError, match="expected a 'segmentation' dataset"):
        _build(tmp_path, "test")


def test_kspace_problems_are_still_reported_by_rec(mtl_data, tmp_path):
    name = "mtl_val_000.h5"
    (tmp_path / name).write_bytes((mtl_data / "val" / name).read_bytes())
    with h5py.File(tmp_path / name, "a") as f:
        k = f["kspace"][()]
        k[2, 0, 0, 0] = np.nan
        f["kspace"][...] = k
    dataset = _build(tmp_path, "validation")
    with pytest.raises(DataFileError, match=r"mtl_val_000.h5: slice 2: kspace holds 1 NaN/Inf"):
        dataset[2]


def test_training_draws_are_per_item_and_epoch(mtl_data):
    """Masks and joint augmentations come from (seed, epoch, index), as in REC: an item is the
    same whatever was drawn before (exact resume) and changes with the epoch."""
    aug = {"flip": 0.5, "transpose": 0.5, "global_phase": True}
    first, second = _build(mtl_data / "train", augmentations=aug), \
        _build(mtl_data / "train", augmentations=aug)
    for dataset in (first, second):
        dataset.set_epoch(3)
    _ = [second[i] for i in (0, 2, 4)]  # other draws first
    a, b = first[1], second[1]
    assert torch.equal(a["masked_kspace"], b["masked_kspace"])
    assert torch.equal(a["segmentation"], b["segmentation"])
    masks = []
    for epoch in range(4):
        first.set_epoch(epoch)
        masks.append(first[1]["mask"])
    assert any(not torch.equal(masks[0], m) for m in masks[1:])
