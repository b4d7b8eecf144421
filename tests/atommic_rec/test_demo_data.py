import json

import h5py
import numpy as np
import pytest
import torch

from atommic_rec.__main__ import main
from atommic_rec.data import SliceDataset, build_rec_dataset
from atommic_rec.data import anatomy as anatomy_mod
from atommic_rec.data.demo_data import make_demo_data
from atommic_rec.physics import ifft2, rss_complex, sense_reduce

SMALL = {"coils": 3, "size": 32, "volumes": (2, 1, 1), "slices": 2}


def _read(path):
    with h5py.File(path) as f:
        return {k: f[k][()] for k in f}, dict(f.attrs)


@pytest.mark.parametrize("source", ["auto", "phantom"])
def test_layout_and_physics_consistency(tmp_path, source):
    record = make_demo_data(tmp_path, source=source, **SMALL)
    assert record["source"] == ("phantom" if source == "phantom" else "icbm152")
    assert json.loads((tmp_path / "demo_data.json").read_text()) == record
    assert [len(record["files"][s]) for s in ("train", "val", "test")] == [2, 1, 1]
    data, attrs = _read(tmp_path / record["files"]["train"][0])
    assert data["kspace"].shape == (2, 3, 32, 32) and data["kspace"].dtype == np.complex64
    assert data["sensitivity_map"].shape == (2, 3, 32, 32)
    kspace, maps = torch.from_numpy(data["kspace"]), torch.from_numpy(data["sensitivity_map"])
    np.testing.assert_allclose(rss_complex(maps, dim=1).numpy(), 1.0, rtol=1e-5)
    coil = ifft2(kspace)
    np.testing.assert_allclose(data["reconstruction_sense"], sense_reduce(coil, maps).abs(),
                               atol=1e-5)
    np.testing.assert_allclose(data["reconstruction_rss"], rss_complex(coil, dim=1), atol=1e-5)
    assert attrs["max"] == pytest.approx(data["reconstruction_rss"].max())
    assert {"norm", "acquisition", "patient_id"} <= set(attrs)
    assert data["reconstruction_sense"].max() > 0.1  # there is an object in the slices
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries


def test_volumes_differ_and_seed_reproduces(tmp_path):
    make_demo_data(tmp_path / "a", **SMALL, seed=1)
    make_demo_data(tmp_path / "b", **SMALL, seed=1)
    t0 = _read(tmp_path / "a/train/demo_train_000.h5")[0]["reconstruction_sense"]
    t1 = _read(tmp_path / "a/train/demo_train_001.h5")[0]["reconstruction_sense"]
    again = _read(tmp_path / "b/train/demo_train_000.h5")[0]["reconstruction_sense"]
    np.testing.assert_array_equal(t0, again)
    assert np.abs(t0 - t1).mean() > 0.01 * t0.mean()


def test_noise_is_added_by_default(tmp_path):
    make_demo_data(tmp_path / "clean", **SMALL, source="phantom", noise=0.0)
    make_demo_data(tmp_path / "default", **SMALL, source="phantom")
    make_demo_data(tmp_path / "noisy", **SMALL, source="phantom", noise=0.05)
    def corner(name):  # background, outside the object
        data = _read(tmp_path / name / "val/demo_val_000.h5")[0]
        return float(ifft2(torch.from_numpy(data["kspace"]))[..., :4, :4].abs().mean())

    assert corner("clean") < 1e-4 < corner("default") < corner("noisy")


def test_every_volume_has_its_own_global_phase(tmp_path):
    record = make_demo_data(tmp_path, **{**SMALL, "volumes": (6, 0, 0)}, source="phantom")
    angles = []
    for name in record["files"]["train"]:
        data = _read(tmp_path / name)[0]
        image = sense_reduce(ifft2(torch.from_numpy(data["kspace"])),
                             torch.from_numpy(data["sensitivity_map"]))
        angles.append(float(image.sum().angle()))
    spread = max(abs(np.angle(np.exp(1j * (a - b)))) for a in angles for b in angles)
    assert spread > 1.5  # the smooth terms alone stay within ~0.6 rad of zero


def test_phantom_fallback_when_nilearn_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(anatomy_mod.importlib.util, "find_spec", lambda name: None)
    assert anatomy_mod.find_icbm152_template() is None
    record = make_demo_data(tmp_path, **SMALL)
    assert record["source"] == "phantom" and record["template"] is None
    with pytest.raises(FileNotFoundError, match="nilearn"):
        make_demo_data(tmp_path / "x", **SMALL, source="icbm152")


def test_phantom_fallback_when_nibabel_absent(tmp_path, monkeypatch):
    import atommic_rec.data.demo_data as demo_mod

    real = demo_mod.importlib.util.find_spec
    monkeypatch.setattr(demo_mod.importlib.util, "find_spec",
                        lambda name: None if name == "nibabel" else real(name))
    assert make_demo_data(tmp_path, **SMALL)["source"] == "phantom"
    with pytest.raises(FileNotFoundError, match="nibabel"):
        make_demo_data(tmp_path / "x", **SMALL, source="icbm152")


def test_template_found_without_importing_nilearn():
    import sys

    imported_before = "nilearn" in sys.modules
    path = anatomy_mod.find_icbm152_template()
    if path is None:
        pytest.skip("nilearn wheel not installed")
    assert path.name == anatomy_mod.TEMPLATE_NAME
    assert imported_before or "nilearn" not in sys.modules


def test_cli_and_dataset_read_the_demo_data(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["make-demo-data", str(out), "--coils", "2", "--size", "24", "--volumes",
                 "1", "1", "1", "--slices", "2", "--source", "phantom"]) == 0
    assert "phantom" in capsys.readouterr().out
    assert len(SliceDataset(out / "train")) == 2
    cfg = {"data_path": str(out), "mask_args": {"type": "equispaced1d", "accelerations": [4],
                                                 "center_fractions": [0.2]}}
    item = build_rec_dataset(cfg, "test")[0]
    assert item["fname"] == "demo_test_000.h5" and item["masked_kspace"].shape == (2, 24, 24)
    assert main(["nope"]) == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="volume counts"):
        make_demo_data("unused", volumes=(1, 1))
