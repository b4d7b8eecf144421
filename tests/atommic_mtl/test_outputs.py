"""Output writers: the joint HDF5, NIfTI label maps with the voxel size, the PNG panel."""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from atommic_mtl.models.outputs import (
    joint_panel,
    write_joint_h5,
    write_label_nifti,
    write_rgb_png,
)


def test_panel_tiles_target_reconstruction_error_overlay():
    target = np.zeros((6, 5), np.float32)
    target[2, 2] = 2.0
    recon = np.full((6, 5), 0.5, np.float32)
    labels = np.zeros((6, 5), np.uint8)
    labels[0, 0] = 1
    panel = joint_panel(target, recon, labels)
    assert panel.shape == (6, 20, 3) and panel.dtype == np.uint8
    grey = panel[..., 0]
    assert grey[2, 2] == 255 and grey[0, 5] == round(0.25 * 255)  # one scale: target max
    assert grey[2, 12] == round(0.75 * 255)  # |2.0 - 0.5| / 2
    overlay = panel[:, 15:]
    assert len(set(overlay[0, 0].tolist())) > 1  # the labelled pixel is coloured
    assert np.all(overlay[1, 1] == overlay[1, 1, 0])  # unlabelled pixels stay grey
    assert joint_panel(None, recon, labels).shape == (6, 10, 3)


def test_h5_and_png_written_atomically(tmp_path):
    recon = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    labels = np.arange(60).reshape(3, 4, 5).astype(np.uint8) % 3
    path = write_joint_h5(str(tmp_path / "v.h5"), recon, labels, {"model": "X",
                                                                  "spacing": [2.0, 1.0, 0.5]})
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["reconstruction"][()], recon)
        np.testing.assert_array_equal(f["segmentation"][()], labels)
        assert f["segmentation"].dtype == np.uint8 and f.attrs["model"] == "X"
    png = write_rgb_png(joint_panel(recon[0], recon[0], labels[0]), str(tmp_path / "p.png"))
    assert Image.open(png).size == (20, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "v.h5"]


def test_nifti_label_map_has_the_voxel_size(tmp_path):
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[1, 2, 3] = 2
    path = write_label_nifti(labels, str(tmp_path / "v"), [2.0, 0.8, 0.6])
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    assert data.shape == (4, 5, 3) and data[2, 3, 1] == 2  # [row, column, slice]
    assert [float(z) for z in img.header.get_zooms()] == pytest.approx([0.8, 0.6, 2.0])
