"""DICOM series written by ``atommic_core.dicom``, read back with pydicom."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pydicom
import pytest

from atommic_core.dicom import write_dicom_series
from atommic_core.errors import AtommicError

# voxel [row, column, slice] -> RAS mm: rows run posterior, columns right, slices superior
AFFINE = np.array([[0.0, 0.9, 0.0, -20.0],
                   [-0.8, 0.0, 0.0, 30.0],
                   [0.0, 0.0, 2.5, -10.0],
                   [0.0, 0.0, 0.0, 1.0]])


def _read(paths):
    return [pydicom.dcmread(p) for p in paths]


def test_magnitude_series_round_trips_values_and_geometry(tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.random((3, 5, 6)).astype(np.float32) * 7 + 1  # [slices, rows, columns]
    paths = write_dicom_series(volume, tmp_path / "vol", case="vol_a", description="recon",
                               affine=AFFINE)
    assert [Path(p).name for p in paths] == ["IM_0001.dcm", "IM_0002.dcm", "IM_0003.dcm"]
    slices = _read(paths)
    back = np.stack([s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept)
                     for s in slices])
    assert slices[0].BitsAllocated == 16 and slices[0].pixel_array.dtype == np.uint16
    np.testing.assert_allclose(back, volume, atol=float(slices[0].RescaleSlope) / 2 + 1e-6)
    lps = np.diag([-1.0, -1.0, 1.0])
    for k, s in enumerate(slices):
        expected = lps @ (AFFINE[:3, :3] @ [0, 0, k] + AFFINE[:3, 3])
        np.testing.assert_allclose([float(v) for v in s.ImagePositionPatient], expected,
                                   atol=1e-5)
        assert s.InstanceNumber == k + 1
    # row direction = increasing column index (RAS +x -> LPS -x), column direction = rows
    np.testing.assert_allclose([float(v) for v in slices[0].ImageOrientationPatient],
                               [-1, 0, 0, 0, 1, 0], atol=1e-8)
    assert [float(v) for v in slices[0].PixelSpacing] == pytest.approx([0.8, 0.9])
    assert float(slices[0].SliceThickness) == pytest.approx(2.5)
    assert len({s.SeriesInstanceUID for s in slices}) == 1
    assert len({s.SOPInstanceUID for s in slices}) == 3
    again = _read(write_dicom_series(volume, tmp_path / "again", case="vol_a",
                                     description="recon", affine=AFFINE))
    assert again[0].SeriesInstanceUID == slices[0].SeriesInstanceUID  # deterministic UIDs


def test_label_series_is_exact_and_names_classes(tmp_path):
    labels = np.random.default_rng(1).integers(0, 4, (2, 4, 4))
    image = _read(write_dicom_series(labels * 1.5, tmp_path / "img", case="c", kind="image",
                                     description="image"))
    seg = _read(write_dicom_series(labels, tmp_path / "lab", case="c", kind="labels",
                                   description="labels", class_names=["bg", "csf", "gm", "wm"]))
    np.testing.assert_array_equal(np.stack([s.pixel_array for s in seg]), labels)
    assert seg[0].ImageComments.startswith("labels: 0=bg, 1=csf, 2=gm, 3=wm")
    assert "geometry unknown" in seg[0].ImageComments
    assert seg[0].StudyInstanceUID == image[0].StudyInstanceUID
    assert seg[0].FrameOfReferenceUID == image[0].FrameOfReferenceUID
    assert seg[0].SeriesInstanceUID != image[0].SeriesInstanceUID


def test_bad_input_and_missing_pydicom_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(AtommicError, match=r"expected a volume \[slices, rows, columns\]"):
        write_dicom_series(np.zeros((4, 4)), tmp_path / "x", case="c", description="d")
    real_import = builtins.__import__

    def no_pydicom(name, *args, **kwargs):
        if name.startswith("pydicom"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydicom)
    with pytest.raises(AtommicError, match=r"install it with: pip install 'atommic-rec\[dicom\]'"):
        write_dicom_series(np.zeros((1, 4, 4)), tmp_path / "y", case="c", description="d")
    assert not (tmp_path / "y").exists()
