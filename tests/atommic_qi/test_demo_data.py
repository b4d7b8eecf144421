"""QI demo data: layout, physics consistency, literature values, seeds, phantom fallback, CLI."""

import json

import h5py
import numpy as np
import pytest
import torch

from atommic_qi.__main__ import main
from atommic_qi.data import demo_data as demo_mod
from atommic_qi.data.demo_data import AHEAD_TES, b0_field, make_qi_demo_data
from atommic_qi.physics import get_signal_model
from atommic_rec.physics import ifft2, sense_reduce

SMALL = {"coils": 2, "size": 32, "volumes": (1, 1, 1), "slices": 2}


def _read(path):
    with h5py.File(path) as f:
        return {k: f[k][()] for k in f}, dict(f.attrs)


@pytest.mark.parametrize("source", ["auto", "phantom"])
def test_layout_and_physics_consistency(tmp_path, source):
    record = make_qi_demo_data(tmp_path, source=source, noise=0.0, **SMALL)
    assert record["source"] == ("phantom" if source == "phantom" else "icbm152")
    assert json.loads((tmp_path / "demo_data.json").read_text()) == json.loads(
        json.dumps(record))
    data, attrs = _read(tmp_path / record["files"]["train"][0])
    assert data["kspace"].shape == (2, 4, 2, 32, 32) and data["kspace"].dtype == np.complex64
    assert data["qmaps"].shape == (2, 4, 32, 32) and data["anatomy_mask"].shape == (2, 32, 32)
    np.testing.assert_allclose(attrs["TEs"], AHEAD_TES)
    assert json.loads(attrs["units"]) == {"R2star": "1/s", "S0": "a.u.", "B0": "Hz",
                                          "phi": "rad"}
    assert attrs["affine"].shape == (4, 4)
    # the fully sampled SENSE echoes are the gre model of the stored maps inside the brain mask
    brain = data["anatomy_mask"] > 0
    echoes = get_signal_model("gre").signal(torch.from_numpy(data["qmaps"]), list(AHEAD_TES))
    images = sense_reduce(ifft2(torch.from_numpy(data["kspace"])),
                          torch.from_numpy(data["sensitivity_map"])[:, None])
    np.testing.assert_allclose(images.movedim(1, 0).numpy()[:, brain],
                               echoes.movedim(1, 0).numpy()[:, brain], atol=2e-5)
    r2 = data["qmaps"][:, 0][brain]
    assert 2.0 < r2.min() and r2.max() < 25.0 and np.median(r2) > 12  # 3 T brain values
    assert not list(tmp_path.rglob("*.tmp"))


def test_seed_reproduces_and_volumes_differ(tmp_path):
    make_qi_demo_data(tmp_path / "a", **{**SMALL, "volumes": (2, 0, 0)}, seed=3)
    make_qi_demo_data(tmp_path / "b", **{**SMALL, "volumes": (2, 0, 0)}, seed=3)
    first = _read(tmp_path / "a/train/qi_train_000.h5")[0]["kspace"]
    np.testing.assert_array_equal(first, _read(tmp_path / "b/train/qi_train_000.h5")[0]["kspace"])
    other = _read(tmp_path / "a/train/qi_train_001.h5")[0]["kspace"]
    assert np.abs(first - other).mean() > 0.01 * np.abs(first).mean()


def test_b0_field_stays_within_the_fits_unambiguous_range():
    rng = np.random.default_rng(0)
    field = b0_field(48, np.ones((3, 48, 48)), rng, amplitude=200.0, local=100.0)
    assert np.abs(field).max() <= 45.0 < 1 / (2 * 8.5e-3)
    smooth = b0_field(48, np.ones((3, 48, 48)), np.random.default_rng(1))
    assert 5.0 < np.abs(smooth).max() <= 45.0  # tens of Hz


def test_phantom_fallback_without_the_templates(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_mod, "find_tissue_templates", lambda: None)
    assert make_qi_demo_data(tmp_path / "a", **SMALL)["source"] == "phantom"
    with pytest.raises(FileNotFoundError, match="ICBM152 T1/GM/WM templates"):
        make_qi_demo_data(tmp_path / "b", source="icbm152", **SMALL)


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="expected 3 volume counts"):
        make_qi_demo_data(tmp_path, volumes=(1, 1), size=32)
    with pytest.raises(ValueError, match=r"source auto\|icbm152\|phantom"):
        make_qi_demo_data(tmp_path, source="mri", **SMALL)


def test_cli_make_demo_data(tmp_path, capsys):
    assert main(["make-demo-data", str(tmp_path), "--size", "32", "--coils", "2",
                 "--volumes", "1", "1", "1", "--slices", "2", "--source", "phantom"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "test" / "qi_test_000.h5").is_file()
    assert main(["nope"]) == 2
