"""Cases are checked when a SegmentationDataset is built: each problem is one named line."""

from __future__ import annotations

import re
import warnings

import h5py
import nibabel as nib
import numpy as np
import pytest

from atommic_core.errors import AtommicError
from atommic_seg.data import SegDataError, SegmentationDataset
from atommic_seg.data.checks import LabelRule, check_case
from atommic_seg.data.demo import make_demo_data
from atommic_seg.data.readers import find_cases

SHAPE = (12, 10, 4)  # [X, Y, Z]


@pytest.fixture(params=["nifti", "hdf5"])
def demo(request, tmp_path):
    """Two valid cases (case_000, case_001) of one format: ``(split folder, format)``."""
    make_demo_data(tmp_path, splits=(2, 0, 0), source="phantom", shape=SHAPE,
                   fmt=request.param)
    return tmp_path / "train", request.param


def _files(root, fmt, case="case_001"):
    """``(image file, label file)`` of a case (the same HDF5 file twice)."""
    if fmt == "hdf5":
        return root / f"{case}.h5", root / f"{case}.h5"
    return root / "images" / f"{case}.nii.gz", root / "labels" / f"{case}.nii.gz"


def _rewrite(root, fmt, image=None, label=None, case="case_001"):
    """Replace a case's image and/or label array (slices first for HDF5, [X, Y, Z] NIfTI)."""
    image_file, label_file = _files(root, fmt, case)
    if fmt == "hdf5":
        with h5py.File(image_file, "r+") as f:
            for key, value in (("image", image), ("segmentation", label)):
                if value is not None:
                    del f[key]
                    f[key] = value
        return
    for path, value in ((image_file, image), (label_file, label)):
        if value is not None:
            nib.save(nib.Nifti1Image(value, nib.load(path).affine), str(path))


def _arrays(root, fmt, case="case_001"):
    image_file, label_file = _files(root, fmt, case)
    if fmt == "hdf5":
        with h5py.File(image_file) as f:
            return f["image"][()], f["segmentation"][()]
    return (np.asarray(nib.load(image_file).dataobj).copy(),
            np.asarray(nib.load(label_file).dataobj).copy())


def _build(root, **kwargs):
    return SegmentationDataset(root, num_classes=4, **kwargs)


def _one_line(exc_info, *fragments):
    message = str(exc_info.value)
    assert "\n" not in message and isinstance(exc_info.value, AtommicError), message
    for fragment in fragments:
        assert fragment in message, message


def test_valid_cases_pass_and_give_their_slice_counts(demo):
    root, _ = demo
    refs = find_cases(root)
    assert [check_case(r, LabelRule("multiclass", 4)) for r in refs] == [SHAPE[2]] * 2
    assert len(_build(root)) == 2 * SHAPE[2]


@pytest.mark.parametrize("which", ["image", "label"])
def test_a_truncated_file_is_named_at_construction(demo, which):
    root, fmt = demo
    path = _files(root, fmt)[0 if which == "image" else 1]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SegDataError) as exc:
        _build(root)
    _one_line(exc, str(path), "cannot be read as", "HDF5" if fmt == "hdf5" else "NIfTI")


def test_a_corrupt_gzip_trailer_is_found_by_streaming_to_the_end(tmp_path):
    make_demo_data(tmp_path, splits=(1, 0, 0), source="phantom", shape=SHAPE)
    path = tmp_path / "train" / "images" / "case_000.nii.gz"
    blob = bytearray(path.read_bytes())
    blob[-6] ^= 0xFF  # the CRC32 of the data: every value decompresses, the check fails
    path.write_bytes(bytes(blob))
    with pytest.raises(SegDataError) as exc:
        _build(tmp_path / "train")
    _one_line(exc, str(path), "CRC")


def test_a_label_that_does_not_match_the_image_is_named(demo):
    root, fmt = demo
    _, label = _arrays(root, fmt)
    if fmt == "nifti":  # [X, Y, Z]: Y 10 -> 8, shown as the file stores it
        _rewrite(root, fmt, label=label[:, :8])
        want, found = "[12, 10, 4]", "[12, 8, 4]"
    else:  # [S, H, W]
        _rewrite(root, fmt, label=label[:, :, :8])
        want, found = "[4, 12, 10]", "[4, 12, 8]"
    with pytest.raises(SegDataError) as exc:
        _build(root)
    _one_line(exc, str(_files(root, fmt)[1]), f"expected labels of shape {want} like the image; "
              f"found {found}")


def test_a_slice_count_mismatch_is_named(demo):
    root, fmt = demo
    _, label = _arrays(root, fmt)
    _rewrite(root, fmt, label=label[..., :3] if fmt == "nifti" else label[:3])
    with pytest.raises(SegDataError) as exc:
        _build(root)
    _one_line(exc, "case_001", "expected labels of shape", "found")


def test_wrong_ndim_and_dtypes_are_named(tmp_path):
    def h5(name, **datasets):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            for key, value in datasets.items():
                f[key] = value

    ok = np.ones((2, 3, 3), np.float32)
    h5("flat", image=np.ones((3, 3), np.float32), segmentation=np.zeros((3, 3), np.uint8))
    h5("text", image=np.full((2, 3, 3), b"ab"), segmentation=np.zeros((2, 3, 3), np.uint8))
    h5("cplxlabel", image=ok, segmentation=np.zeros((2, 3, 3), np.complex64))
    h5("empty", image=np.ones((0, 3, 3), np.float32), segmentation=np.zeros((0, 3, 3)))
    h5("frac", image=ok, segmentation=np.full((2, 3, 3), 0.5, np.float32))
    h5("range", image=ok, segmentation=np.full((2, 3, 3), 4, np.uint8))
    h5("nolabel", image=ok)
    rule = LabelRule("multiclass", 4)
    expected = {
        "flat": "expected a 3D image [slices, H, W] with every size >= 1; found shape [3, 3]",
        "text": "expected a numeric image; found dtype kind 'S'",
        "cplxlabel": "expected integer (or bool/float) labels; found dtype kind 'c'",
        "empty": "found shape [0, 3, 3]",
        "frac": "expected whole-number class indices",
        "range": "expected label values 0..3; found 4..4; hint: set model.num_classes",
        "nolabel": "expected a label dataset 'segmentation'; found keys ['image']",
    }
    for ref in find_cases(tmp_path):
        with pytest.raises(SegDataError) as exc:
            check_case(ref, rule)
        _one_line(exc, ref.image_path, expected[ref.name])
    # without required labels (predict) a case without labels is fine
    (nolabel,) = [r for r in find_cases(tmp_path) if r.name == "nolabel"]
    assert check_case(nolabel, LabelRule("multiclass", 4, required=False)) == 2


def test_nifti_layout_problems_are_named(tmp_path, write_nifti_case):
    write_nifti_case(tmp_path, "a4d", np.ones((3, 3, 2, 2), np.float32),
                     np.zeros((3, 3, 2), np.uint8))
    write_nifti_case(tmp_path, "multi", np.ones((3, 3, 2), np.float32),
                     np.zeros((3, 3, 2, 3), np.uint8))
    write_nifti_case(tmp_path, "nolabel", np.ones((3, 3, 2), np.float32),
                     np.zeros((3, 3, 2), np.uint8))
    (tmp_path / "labels" / "nolabel.nii.gz").unlink()
    multilabel = LabelRule("multilabel", 2)
    refs = {r.name: r for r in find_cases(tmp_path)}
    with pytest.raises(SegDataError) as exc:
        check_case(refs["a4d"], multilabel)
    _one_line(exc, "a4d.nii.gz", "expected a 3D image [X, Y, Z]", "found shape [3, 3, 2, 2]")
    with pytest.raises(SegDataError) as exc:
        check_case(refs["multi"], multilabel)
    _one_line(exc, "labels/multi.nii.gz", "expected labels of shape [3, 3, 2, 2] (multilabel: "
              "the image's [3, 3, 2] and 2 classes); found [3, 3, 2, 3]")
    with pytest.raises(SegDataError) as exc:
        check_case(refs["nolabel"], multilabel)
    _one_line(exc, "expected a label file", str(tmp_path / "labels" / "nolabel.nii.gz"))


def test_a_bad_spacing_attribute_is_named(tmp_path):
    make_demo_data(tmp_path, splits=(1, 0, 0), source="phantom", shape=SHAPE, fmt="hdf5")
    with h5py.File(tmp_path / "train" / "case_000.h5", "r+") as f:
        f.attrs["spacing"] = [0.0, 1.0, 1.0]
    with pytest.raises(SegDataError) as exc:
        _build(tmp_path / "train")
    _one_line(exc, "case_000.h5", "expected a spacing of 3 positive voxel sizes (mm)")


def test_non_finite_values_name_the_slice_and_skip_bad_files_skips_the_case(demo):
    root, fmt = demo
    image, _ = _arrays(root, fmt)
    if fmt == "nifti":
        image[2:4, 1, 2] = np.nan  # slice (Z) 2
    else:
        image[2, 1, 2:4] = np.inf
    _rewrite(root, fmt, image=image)
    with pytest.raises(SegDataError) as exc:
        _build(root)
    _one_line(exc, str(_files(root, fmt)[0]), "image slice 2 holds NaN/Inf (2 value(s) in the "
              "case)", "skip_bad_files: true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = _build(root, skip_bad_files=True)
    assert [r.name for r in kept.refs] == ["case_000"] and len(kept) == SHAPE[2]
    (warning,) = [str(w.message) for w in caught]
    assert warning.startswith("skip_bad_files: skipping ") and "case_001" in warning
    assert "hint" not in warning
    assert all(np.isfinite(kept[i]["image"].numpy()).all() for i in range(len(kept)))


def test_skipping_every_case_is_an_error(demo):
    root, fmt = demo
    for case in ("case_000", "case_001"):
        path = _files(root, fmt, case)[0]
        path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="skipping"), pytest.raises(SegDataError) as exc:
        _build(root, skip_bad_files=True)
    _one_line(exc, "expected at least one valid case; found 2, none usable")


def test_a_file_changed_after_construction_is_named_when_read(demo):
    root, fmt = demo
    dataset = _build(root)
    image, _ = _arrays(root, fmt)
    image[(slice(None), slice(None), 3) if fmt == "nifti" else (3,)] = np.nan
    _rewrite(root, fmt, image=image)
    with pytest.raises(SegDataError) as exc:
        dataset[SHAPE[2]]  # the first slice of case_001: the case is read whole
    _one_line(exc, str(_files(root, fmt)[0]), "image slice 3 holds NaN/Inf")
    path = _files(root, fmt, "case_000")[0]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SegDataError) as exc:
        dataset[0]
    assert re.search(rf"{re.escape(str(path))}: (failed to read the case|expected)",
                     str(exc.value)), exc.value
