"""End to end through the real CLI: train tiny VarNet and CIRIM, restore the .atommic, predict."""

import csv

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from atommic_core.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SIZE = 32
TINY = {
    "rec_varnet": ["model.num_cascades=2", "model.channels=4", "model.pooling_layers=2"],
    "rec_cirim": ["model.num_cascades=2", "model.time_steps=2", "model.conv_filters=[4,4,2]",
                  "model.recurrent_filters=[4,4,0]"],
}


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from atommic_rec.data.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("rec_demo")
    make_demo_data(root, coils=2, size=SIZE, volumes=(1, 1, 1), slices=2, seed=0,
                   source="phantom")
    return root


@pytest.mark.parametrize("config", list(TINY))
def test_train_restore_predict(config, demo_data, tmp_path):
    common = [f"model.data_root={demo_data}", f"exp_manager.exp_dir={tmp_path}",
              "trainer.max_epochs=1", "+trainer.max_steps=2", "trainer.log_every_n_steps=1",
              "exp_manager.create_tensorboard_logger=false", *TINY[config]]
    assert main(["train", "--config-name", config, *common, "+exp_manager.version=train"]) == 0
    run = tmp_path / config / "train"
    archive = run / "checkpoints" / f"{config}.atommic"
    assert archive.is_file()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert rows[-1]["fname"] == "MEAN" and 0 < float(rows[-1]["ssim"]) <= 1

    assert main(["predict", "--config-name", config, *common, f"model.restore_path={archive}",
                 "+exp_manager.version=predict"]) == 0
    out = tmp_path / config / "predict" / "predictions"
    files = sorted(out.glob("*.h5"))
    assert [f.name for f in files] == ["demo_test_000.h5"]
    with h5py.File(files[0]) as f:
        rec = f["reconstruction"][()]
    assert rec.shape == (2, SIZE, SIZE) and np.isfinite(rec).all() and rec.max() > 0
    assert (out / "previews" / "demo_test_000.png").is_file()

    # evaluation keys of the run's config win over the archive's: the convention, write_png
    assert main(["test", "--config-name", config, *common, f"model.restore_path={archive}",
                 "+model.evaluation_convention=atommic", "model.write_png=false",
                 "+exp_manager.version=test_atommic"]) == 0
    tested = tmp_path / config / "test_atommic"
    assert {r["convention"] for r in csv.DictReader(open(tested / "metrics.csv"))} == {"atommic"}
    assert not (tested / "previews").exists()

    # the archive restores in-process to the same class with the trained weights
    from atommic_core.registry import models

    model_name = {"rec_varnet": "VarNet", "rec_cirim": "CIRIM"}[config]
    restored = models[model_name].restore_from(str(archive), map_location="cpu").eval()
    assert type(restored).__name__ == model_name
    dataset = restored.build_dataset(restored.cfg.test_ds, "test")
    batch = default_collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        again = restored.predict_step(batch, 0)["reconstruction"]
    order = np.argsort(batch["slice_idx"].numpy())
    np.testing.assert_allclose(again.numpy()[order], rec, rtol=1e-4, atol=1e-5)


def _write_toy_volume(path, intensities, coils=4, size=32):
    """A fastMRI-layout file whose slices hold one object at different intensities."""
    from rec_synthetic import disc_image, smooth_maps

    from atommic_rec.physics import fft2, ifft2, sense_reduce

    maps = smooth_maps(coils, size, size)
    images = torch.stack([disc_image(size, size) * a for a in intensities])
    kspace = fft2(maps * images[:, None])
    with h5py.File(path, "w") as f:
        f["kspace"] = kspace.numpy()
        f["sensitivity_map"] = maps.expand(len(intensities), -1, -1, -1).numpy()
        f["reconstruction_sense"] = sense_reduce(ifft2(kspace), maps).abs().numpy()


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec_toy")
    (root / "test").mkdir()
    _write_toy_volume(root / "test" / "toy_a.h5", (1.0, 0.5, 0.1))
    _write_toy_volume(root / "test" / "toy_b.h5", (0.2, 2.0, 0.7))
    return root


@pytest.mark.parametrize("convention", ["fastmri", "atommic"])
def test_test_table_equals_independent_scores_of_predict_output(convention, toy_data, tmp_path,
                                                                capsys):
    """`test`'s per-volume table = skimage/numpy scores of `predict`'s HDF5 vs the file target.

    ZeroFilled also shows that a model without weights needs no model.restore_path.
    """
    from metric_references import atommic_reference, fastmri_reference

    common = [f"model.data_root={toy_data}", f"exp_manager.exp_dir={tmp_path}",
              "exp_manager.create_tensorboard_logger=false", "model.write_png=false",
              f"+model.evaluation_convention={convention}"]
    assert main(["test", "--config-name", "rec_zero_filled", *common,
                 "+exp_manager.version=test"]) == 0
    assert f"({convention} convention:" in capsys.readouterr().out
    assert main(["predict", "--config-name", "rec_zero_filled", *common,
                 "+exp_manager.version=predict"]) == 0
    rows = {r["fname"]: r for r in csv.DictReader(open(tmp_path / "rec_zero_filled" / "test" /
                                                       "metrics.csv"))}
    assert sorted(rows) == ["MEAN", "toy_a.h5", "toy_b.h5"]
    reference = {"fastmri": fastmri_reference, "atommic": atommic_reference}[convention]
    for name in ("toy_a.h5", "toy_b.h5"):
        with h5py.File(tmp_path / "rec_zero_filled" / "predict" / "predictions" / name) as f:
            prediction = f["reconstruction"][()]
        with h5py.File(toy_data / "test" / name) as f:
            target = f["reconstruction_sense"][()]
        want = reference(target, prediction)
        assert rows[name]["convention"] == convention
        for key in ("ssim", "psnr", "nmse"):
            assert float(rows[name][key]) == pytest.approx(want[key], rel=1e-4, abs=1e-4), key


def test_test_without_restore_path_needs_a_parameter_free_model(demo_data, tmp_path, capsys):
    args = [f"model.data_root={demo_data}", f"exp_manager.exp_dir={tmp_path}"]
    assert main(["test", "--config-name", "rec_varnet", *args]) == 2
    assert "missing required key model.restore_path" in capsys.readouterr().err
    assert main(["test", "--config-name", "rec_zero_filled", *args,
                 "exp_manager.create_tensorboard_logger=false"]) == 0
    assert "ZeroFilled test metrics (fastmri convention:" in capsys.readouterr().out
    assert main(["test", "--config-name", "rec_zero_filled", *args,
                 "+model.evaluation_convention=nyu"]) == 2
    assert "model.evaluation_convention: expected one of fastmri, atommic; found 'nyu'" in \
        capsys.readouterr().err


@pytest.mark.parametrize("workers", [0, 1])
def test_nan_in_training_kspace_stops_with_the_file_named(tmp_path, capsys, workers):
    from atommic_rec.data.demo_data import make_demo_data

    make_demo_data(tmp_path / "data", coils=2, size=SIZE, volumes=(2, 1, 1), slices=2, seed=0,
                   source="phantom")
    bad = tmp_path / "data" / "train" / "demo_train_001.h5"
    with h5py.File(bad, "r+") as f:
        k = f["kspace"][()]
        k[1, :, 10:20, 10:20] = np.nan
        f["kspace"][...] = k
    code = main(["train", "--config-name", "rec_varnet", f"model.data_root={tmp_path / 'data'}",
                 f"exp_manager.exp_dir={tmp_path / 'exps'}", "trainer.max_epochs=2",
                 "exp_manager.create_tensorboard_logger=false",
                 f"model.train_ds.num_workers={workers}", *TINY["rec_varnet"]])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert lines[-1].startswith("error: ") and "Traceback" not in lines[-1]
    assert "demo_train_001.h5: slice 1: kspace holds 200 NaN/Inf value(s)" in lines[-1]
    assert not list((tmp_path / "exps").glob("**/*.atommic"))  # no model from NaN weights


def test_same_command_twice_gives_identical_metrics(demo_data, tmp_path):
    common = [f"model.data_root={demo_data}", f"exp_manager.exp_dir={tmp_path}",
              "trainer.max_epochs=2", "exp_manager.create_tensorboard_logger=false",
              "model.train_ds.num_workers=1", *TINY["rec_varnet"]]  # no seed: the default
    tables = []
    for version in ("a", "b"):
        assert main(["train", "--config-name", "rec_varnet", *common,
                     f"+exp_manager.version={version}"]) == 0
        tables.append((tmp_path / "rec_varnet" / version / "metrics.csv").read_text())
    assert tables[0] == tables[1]


def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(demo_data, tmp_path,
                                                                 monkeypatch, capsys):
    """2 steps per epoch, 3 epochs, random training masks and augmentations drawn in a
    DataLoader worker; SIGINT during step 2 (epoch 1), then resume: the same weights."""
    import os
    import signal

    from atommic_rec.models.base import ReconstructionModel

    common = [f"model.data_root={demo_data}", f"exp_manager.exp_dir={tmp_path}",
              "trainer.max_epochs=3", "exp_manager.create_tensorboard_logger=false",
              "model.train_ds.num_workers=1", *TINY["rec_varnet"]]
    assert main(["train", "--config-name", "rec_varnet", *common,
                 "+exp_manager.version=full"]) == 0
    step = ReconstructionModel.training_step

    def interrupted_step(self, batch, batch_idx):
        if self.global_step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, batch, batch_idx)

    with monkeypatch.context() as patch:
        patch.setattr(ReconstructionModel, "training_step", interrupted_step)
        assert main(["train", "--config-name", "rec_varnet", *common,
                     "+exp_manager.version=cut"]) == 130
    assert "to continue this run exactly where it stopped" in capsys.readouterr().err
    runs = tmp_path / "rec_varnet"
    stopped = torch.load(runs / "cut" / "checkpoints" / "rec_varnet--interrupted.ckpt",
                         map_location="cpu", weights_only=False)
    assert stopped["atommic_train_progress"] == {"epoch": 1, "batches_done": 1}
    assert main(["train", "--config-name", "rec_varnet", *common,
                 "exp_manager.version=cut", "exp_manager.resume_if_exists=true"]) == 0
    full, cut = (torch.load(runs / v / "checkpoints" / "rec_varnet--last.ckpt",
                            map_location="cpu", weights_only=False) for v in ("full", "cut"))
    assert full["global_step"] == cut["global_step"] == 6
    difference = max(float((full["state_dict"][k] - cut["state_dict"][k]).abs().max())
                     for k in full["state_dict"])
    assert difference == 0.0
