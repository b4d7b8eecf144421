import json

import h5py
import numpy as np
import pytest
import torch

from atommic_rec.__main__ import main
from atommic_rec.data import anatomy as anatomy_mod
from atommic_rec.data import build_rec_dataset
from atommic_rec.data.anatomy import ORIENTATIONS, slice_coordinates, smooth_warp
from atommic_rec.data.heldout_data import make_heldout_data
from atommic_rec.physics import ifft2, rss_complex, sense_reduce

SMALL = {"coils": 5, "size": 32, "volumes": (1, 0, 2), "slices": 2}


def _read(path):
    with h5py.File(path) as f:
        return {k: f[k][()] for k in f}, dict(f.attrs)


@pytest.mark.parametrize("source", ["auto", "phantom"])
def test_heldout_files_are_consistent_and_unlike_the_demo(tmp_path, source):
    record = make_heldout_data(tmp_path, source=source, contrast="t2", **SMALL)
    assert json.loads((tmp_path / "heldout_data.json").read_text()) == record
    assert record["source"] == ("phantom" if source == "phantom" else "icbm152")
    assert record["coil_geometry"]["radius"][0] != record["coil_geometry"]["radius"][1]
    data, attrs = _read(tmp_path / record["files"]["test"][0])
    assert data["kspace"].shape == (2, 5, 32, 32) and attrs["acquisition"].startswith("T2_")
    kspace, maps = torch.from_numpy(data["kspace"]), torch.from_numpy(data["sensitivity_map"])
    coil = ifft2(kspace)
    np.testing.assert_allclose(data["reconstruction_rss"], rss_complex(coil, dim=1), atol=1e-5)
    np.testing.assert_allclose(data["reconstruction_sense"], sense_reduce(coil, maps).abs(),
                               atol=1e-5)
    assert data["reconstruction_sense"].max() > 0.3
    planes = {_read(tmp_path / f)[1]["acquisition"] for f in record["files"]["test"]}
    assert len(planes) == 2  # the volumes of a split cycle through the slice planes
    assert not list(tmp_path.rglob("*.tmp"))


def test_heldout_options_maps_targets_contrast_and_seed(tmp_path):
    record = make_heldout_data(tmp_path / "a", **SMALL, maps_in_file=False, targets=("rss",),
                               contrast="t1", orientations=("coronal",), seed=3)
    data, attrs = _read(tmp_path / "a" / record["files"]["train"][0])
    assert set(data) == {"kspace", "reconstruction_rss"}
    assert attrs["acquisition"] == "T1_CORONAL_SIMULATED"
    again = make_heldout_data(tmp_path / "b", **SMALL, maps_in_file=False, targets=("rss",),
                              contrast="t1", orientations=("coronal",), seed=3)
    np.testing.assert_array_equal(_read(tmp_path / "b" / again["files"]["train"][0])[0]["kspace"],
                                  data["kspace"])
    cfg = {"data_path": str(tmp_path / "a"),
           "mask_args": {"type": "random1d", "accelerations": [4], "center_fractions": [0.2]}}
    item = build_rec_dataset(cfg, "test")[0]  # maps estimated, RSS target
    assert item["sensitivity_maps"].shape == (5, 32, 32) and item["target"].shape == (32, 32)
    with pytest.raises(ValueError, match="contrast"):
        make_heldout_data(tmp_path / "c", **SMALL, contrast="flair")
    with pytest.raises(ValueError, match="volume counts"):
        make_heldout_data(tmp_path / "c", volumes=(1, 1))


def test_heldout_phantom_fallback_when_nilearn_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(anatomy_mod.importlib.util, "find_spec", lambda name: None)
    assert make_heldout_data(tmp_path, **SMALL)["source"] == "phantom"


def test_slice_orientations_and_warp():
    shape = (20, 30, 40)
    centres = np.array([5.0, 6.0])
    for name, (row, col, sl) in ORIENTATIONS.items():
        coords = slice_coordinates(shape, 8, centres, 0.0, (0.0, 0.0), orientation=name, fov=10)
        assert coords.shape == (3, 2, 8, 8)
        np.testing.assert_allclose(coords[sl][:, 0, 0], centres)
        assert coords[row][0, 0, 0] > coords[row][0, -1, 0]  # top row = anterior/superior
        assert coords[col][0, 0, 0] < coords[col][0, 0, -1]
    warp = smooth_warp(np.random.default_rng(0), amplitude=2.0)
    coords = slice_coordinates(shape, 8, centres, 0.0, (0.0, 0.0))
    moved = warp(coords)
    assert 0 < np.abs(moved - coords).max() <= 2.0 * 6 + 1e-9
    with pytest.raises(ValueError, match="orientation"):
        slice_coordinates(shape, 8, centres, 0.0, (0.0, 0.0), orientation="oblique")


def test_cli_heldout_variant(tmp_path, capsys):
    out = tmp_path / "heldout"
    assert main(["make-demo-data", str(out), "--variant", "heldout", "--size", "24", "--coils",
                 "3", "--slices", "1", "--source", "phantom"]) == 0
    assert "heldout" in capsys.readouterr().out
    assert len(list((out / "test").glob("*.h5"))) == 4 and not list((out / "train").glob("*"))
    with pytest.raises(SystemExit):
        main(["make-demo-data", str(tmp_path / "x"), "--contrast", "t1"])
