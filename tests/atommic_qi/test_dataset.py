"""The multi-echo slice dataset: layout, echo axis, echo times, validation, NaN checks."""

import warnings

import h5py
import numpy as np
import pytest
import torch

from atommic_qi.data import MultiEchoSliceDataset
from atommic_rec.data import DataFileError

TES = (3.0, 11.5, 20.0, 28.5)


def test_items_follow_the_layout(tmp_path, write_qi_volume):
    maps = write_qi_volume(tmp_path / "a.h5", slices=2, coils=3, h=16, w=18)
    ds = MultiEchoSliceDataset(tmp_path)
    assert len(ds) == 2 and ds.example_groups == [0, 0]
    item = ds[1]
    assert item["kspace"].shape == (4, 3, 16, 18) and item["kspace"].dtype == torch.complex64
    assert item["sensitivity_maps"].shape == (3, 16, 18)
    assert item["anatomy_mask"].shape == (16, 18)
    torch.testing.assert_close(item["qmaps_target"], maps[1])
    torch.testing.assert_close(item["TEs"], torch.tensor(TES))
    assert (item["fname"], item["slice_idx"]) == ("a.h5", 1)


def test_separate_target_maps_and_echo_axis_two_read_the_same(tmp_path, write_qi_volume):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_qi_volume(tmp_path / "a" / "v.h5", targets="qmaps")
    write_qi_volume(tmp_path / "b" / "v.h5", targets="separate", echo_axis=2)
    a = MultiEchoSliceDataset(tmp_path / "a")[0]
    b = MultiEchoSliceDataset(tmp_path / "b", echo_axis=2)[0]
    for key in ("kspace", "qmaps_target", "sensitivity_maps"):
        torch.testing.assert_close(a[key], b[key])
    with pytest.raises(ValueError, match="echo_axis: expected 1"):
        MultiEchoSliceDataset(tmp_path / "a", echo_axis=3)


def test_single_coil_and_file_masks(tmp_path, write_qi_volume):
    mask = np.zeros(18, dtype=np.float32)
    mask[::2] = 1
    write_qi_volume(tmp_path / "s.h5", single_coil=True, mask=mask)
    item = MultiEchoSliceDataset(tmp_path)[0]
    assert item["kspace"].shape == (4, 1, 16, 18) and "sensitivity_maps" not in item
    assert item["mask"].shape == (1, 1, 1, 18)


def test_echo_times_from_config_and_mismatches(tmp_path, write_qi_volume):
    write_qi_volume(tmp_path / "a.h5", attrs_tes=False)
    with pytest.raises(DataFileError, match="expected echo times: a 'TEs' attribute"):
        MultiEchoSliceDataset(tmp_path)
    ds = MultiEchoSliceDataset(tmp_path, tes=[2.0, 4.0, 6.0, 8.0])
    torch.testing.assert_close(ds[0]["TEs"], torch.tensor([2.0, 4.0, 6.0, 8.0]))
    with pytest.raises(DataFileError, match="expected 4 echo times"):
        MultiEchoSliceDataset(tmp_path, tes=[2.0, 4.0])
    with pytest.raises(ValueError, match="TEs: expected at least 2 positive, increasing"):
        MultiEchoSliceDataset(tmp_path, tes=[4.0, 2.0])
    (tmp_path / "a.h5").unlink()
    write_qi_volume(tmp_path / "b.h5")
    with pytest.raises(DataFileError, match=r"b.h5: attribute TEs \[3.0, 11.5, 20.0, 28.5\] "
                                            "contradicts the config's TEs"):
        MultiEchoSliceDataset(tmp_path, tes=[1.0, 2.0, 3.0, 4.0])
    with h5py.File(tmp_path / "b.h5", "a") as f:
        f.attrs["TEs"] = [3.0, 11.5, 20.0]
    with pytest.raises(DataFileError, match="attribute 'TEs': expected 4 positive"):
        MultiEchoSliceDataset(tmp_path)


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.__delitem__("kspace"), "expected a 'kspace' dataset"),
    (lambda f: (f.__delitem__("kspace"), f.create_dataset("kspace", data=np.ones((2, 3, 4)))),
     r"expected 'kspace' complex \[slices, echoes, coils, H, W\]"),
    (lambda f: (f.__delitem__("sensitivity_map"), f.create_dataset(
        "sensitivity_map", data=np.ones((2, 2, 16, 18), np.complex64))),
     r"expected 'sensitivity_map' of shape \[2, 3, 16, 18\]"),
    (lambda f: (f.__delitem__("anatomy_mask"), f.create_dataset(
        "anatomy_mask", data=np.ones((2, 16, 17)))), r"expected 'anatomy_mask' of shape"),
    (lambda f: f.__delitem__("B0_map_target"), r"missing \['B0_map_target'\]"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, write_qi_volume, edit, message):
    write_qi_volume(tmp_path / "bad.h5", targets="separate")
    with h5py.File(tmp_path / "bad.h5", "a") as f:
        edit(f)
    with pytest.raises(DataFileError, match=message) as info:
        MultiEchoSliceDataset(tmp_path)
    assert "bad.h5" in str(info.value)


@pytest.mark.parametrize("key", ["kspace", "qmaps"])
def test_nan_slices_name_file_slice_and_key(tmp_path, write_qi_volume, key):
    write_qi_volume(tmp_path / "good.h5")
    write_qi_volume(tmp_path / "nan.h5")
    with h5py.File(tmp_path / "nan.h5", "a") as f:
        data = f[key][()]
        data[(1,) + (0,) * (data.ndim - 1)] = np.nan
        f[key][...] = data
    ds = MultiEchoSliceDataset(tmp_path)
    ds[2]  # slice 0 of nan.h5 is fine
    name = "kspace" if key == "kspace" else "qmaps_target"
    with pytest.raises(DataFileError, match=rf"nan.h5: slice 1: {name} holds 1 NaN/Inf"):
        ds[3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipping = MultiEchoSliceDataset(tmp_path, skip_bad_files=True)
    assert [v.path.name for v in skipping.volumes] == ["good.h5"]
    assert any("holds 1 NaN/Inf" in str(w.message) for w in caught)


def test_affine_attribute_is_found_by_file_name(tmp_path, write_qi_volume):
    write_qi_volume(tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5", "a") as f:
        f.attrs["affine"] = np.diag([2.0, 1.5, 1.5, 1.0])
    ds = MultiEchoSliceDataset(tmp_path)
    np.testing.assert_array_equal(ds.affine("a.h5"), np.diag([2.0, 1.5, 1.5, 1.0]))
    assert ds.affine("other.h5") is None
