"""Label checks at construction (layout, grid, values, NaN naming file and slice) and reading."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from rec_synthetic import write_volume

from atommic_mtl.data.labels import LabelReader, inspect_labels
from atommic_rec.data import DataFileError


def _file(path, labels=None, slices=3, h=24, w=20, **attrs):
    write_volume(path, slices=slices, coils=2, h=h, w=w, attrs=attrs)
    if labels is not None:
        with h5py.File(path, "a") as f:
            f["segmentation"] = labels
    return path


def _indices(slices=3, h=24, w=20, classes=4):
    return (np.arange(slices * h * w).reshape(slices, h, w) % classes).astype(np.uint8)


def test_class_indices_are_read_as_indices_or_one_hot(tmp_path):
    labels = _indices()
    info = inspect_labels(_file(tmp_path / "a.h5", labels), label_mode="multiclass",
                          num_classes=4)
    assert info.layout == "indices" and info.spacing == (1.0, 1.0, 1.0)
    reader = LabelReader()
    got = reader.read(info, 1, "multiclass", 4)
    assert got.dtype == torch.int64 and torch.equal(got, torch.from_numpy(labels[1]).long())
    one_hot = reader.read(info, 1, "multilabel", 4)
    assert one_hot.shape == (4, 24, 20) and one_hot.dtype == torch.float32
    assert torch.equal(one_hot.argmax(0), got) and torch.all(one_hot.sum(0) == 1)


def test_multilabel_channels(tmp_path):
    channels = np.zeros((3, 2, 24, 20), np.uint8)
    channels[:, 0, :5] = 1
    channels[:, 1, 3:9] = 1  # overlapping classes: only multilabel can hold them
    path = _file(tmp_path / "a.h5", channels, spacing=[3.0, 0.5, 0.7])
    info = inspect_labels(path, label_mode="multilabel", num_classes=2)
    assert info.layout == "channels" and info.spacing == (3.0, 0.5, 0.7)
    got = LabelReader().read(info, 2, "multilabel", 2)
    assert torch.equal(got, torch.from_numpy(channels[2]).float())
    with pytest.raises(DataFileError, match=r"expected class indices .* for label_mode "
                                            "multiclass; hint: set model.label_mode=multilabel"):
        inspect_labels(path, label_mode="multiclass", num_classes=2)
    with pytest.raises(DataFileError, match="holds 2 class channels; expected num_classes=3"):
        inspect_labels(path, label_mode="multilabel", num_classes=3)


@pytest.mark.parametrize(("labels", "message"), [
    (np.zeros((2, 24, 20), np.uint8), r"expected 'segmentation' of shape \[3, H=24, W=20\]"),
    (np.zeros((3, 24, 21), np.uint8), r"found \[3, 24, 21\]"),
    (np.zeros((3, 24), np.uint8), r"found \[3, 24\]"),
    (np.full((3, 24, 20), 4, np.uint8), r"slice 0: expected class indices in \[0, 3\] "
                                        r"\(num_classes=4\).*found values in \[4, 4\]"),
    (np.full((3, 24, 20), 0.5, np.float32), "slice 0: expected integer labels"),
    (np.array(["a"] * 3, dtype="S1"), "expected 'segmentation' of integer or float type"),
])
def test_bad_labels_name_the_file(tmp_path, labels, message):
    path = _file(tmp_path / "bad.h5", labels)
    with pytest.raises(DataFileError, match=message) as info:
        inspect_labels(path, label_mode="multiclass", num_classes=4)
    assert str(path) in str(info.value)


def test_nan_labels_name_file_and_slice(tmp_path):
    labels = _indices().astype(np.float32)
    labels[2, 4, 4] = np.nan
    path = _file(tmp_path / "nan.h5", labels)
    with pytest.raises(DataFileError, match=r"nan.h5: slice 2: segmentation holds 1 NaN/Inf "
                                            r"value\(s\)"):
        inspect_labels(path, label_mode="multiclass", num_classes=4)


def test_labels_on_the_target_grid_are_accepted(tmp_path):
    path = _file(tmp_path / "a.h5", None)
    with h5py.File(path, "a") as f:  # fastMRI style: a cropped target, labels on its grid
        del f["reconstruction_sense"]
        f["reconstruction_rss"] = np.ones((3, 16, 16), np.float32)
        f["segmentation"] = np.zeros((3, 16, 16), np.uint8)
    assert inspect_labels(path, label_mode="multiclass", num_classes=2).layout == "indices"


def test_missing_labels_required_or_not(tmp_path):
    path = _file(tmp_path / "none.h5", None)
    with pytest.raises(DataFileError, match="expected a 'segmentation' dataset"):
        inspect_labels(path, label_mode="multiclass", num_classes=4)
    assert inspect_labels(path, label_mode="multiclass", num_classes=4,
                          required=False).layout is None


@pytest.mark.parametrize("spacing", [[1.0, 2.0], [1.0, -1.0, 1.0], [np.nan, 1.0, 1.0]])
def test_bad_spacing_attribute(tmp_path, spacing):
    path = _file(tmp_path / "a.h5", _indices(), spacing=spacing)
    with pytest.raises(DataFileError, match="attribute spacing: expected 3 positive numbers"):
        inspect_labels(path, label_mode="multiclass", num_classes=4)


def test_truncated_file_is_one_error(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(DataFileError, match="cannot be read as HDF5"):
        inspect_labels(path, label_mode="multiclass", num_classes=4)


def test_reader_reopens_in_a_forked_process_and_pickles(tmp_path):
    import pickle

    info = inspect_labels(_file(tmp_path / "a.h5", _indices()), label_mode="multiclass",
                          num_classes=4)
    reader = LabelReader()
    reader.read(info, 0, "multiclass", 4)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._handles == {}
    assert torch.equal(clone.read(info, 0, "multiclass", 4), reader.read(info, 0, "multiclass", 4))
    reader.close()
