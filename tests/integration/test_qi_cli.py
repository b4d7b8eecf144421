"""QI end to end through the real CLI: train, restore, test and predict each model; qZF
without weights; the test table equals independent scores of the predict outputs."""

import csv
import json

import h5py
import nibabel
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from atommic_core.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SIZE = 32
RIM = ["model.time_steps=2", "model.conv_filters=[4,4,4]", "model.recurrent_filters=[4,4,0]"]
TINY = {
    "qi_cirim": ["model.num_cascades=2", *RIM],
    "qi_rim": RIM,
    "qi_varnet": ["model.num_cascades=2", "model.channels=4", "model.pooling_layers=2"],
}
MAPS = ("R2star", "S0", "B0", "phi")


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from atommic_qi.data.demo_data import make_qi_demo_data

    root = tmp_path_factory.mktemp("qi_demo")
    make_qi_demo_data(root, coils=2, size=SIZE, volumes=(1, 1, 1), slices=2, seed=0,
                      source="phantom")
    return root


def _common(data, tmp_path, *extra):
    return [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path}",
            "exp_manager.create_tensorboard_logger=false", *extra]


@pytest.mark.parametrize("config", list(TINY))
def test_train_restore_test_predict(config, demo_data, tmp_path):
    common = _common(demo_data, tmp_path, "trainer.max_epochs=1", "+trainer.max_steps=2",
                     "trainer.log_every_n_steps=1", *TINY[config])
    assert main(["train", "--config-name", config, *common, "+exp_manager.version=train"]) == 0
    run = tmp_path / config / "train"
    archive = run / "checkpoints" / f"{config}.atommic"
    assert archive.is_file()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert rows[-1]["fname"] == "MEAN" and 0 < float(rows[-1]["B0_ssim"]) <= 1

    restore = [f"model.restore_path={archive}"]
    assert main(["predict", "--config-name", config, *common, *restore,
                 "+exp_manager.version=predict"]) == 0
    out = tmp_path / config / "predict" / "predictions"
    with h5py.File(out / "qi_test_000.h5") as f:
        qmaps = f["qmaps"][()]
        assert json.loads(f.attrs["units"]) == dict(zip(MAPS, ("1/s", "a.u.", "Hz", "rad"),
                                                        strict=True))
    assert qmaps.shape == (2, 4, SIZE, SIZE) and np.isfinite(qmaps).all()
    for k, name in enumerate(MAPS):
        nifti = nibabel.load(out / f"qi_test_000_{name}.nii.gz")
        np.testing.assert_allclose(np.asarray(nifti.dataobj), qmaps[:, k])
        assert nifti.affine[2, 0] == 2.0  # the file's affine: 2 mm slices
        assert (out / "previews" / f"qi_test_000_{name}.png").is_file()

    assert main(["test", "--config-name", config, *common, *restore, "model.write_png=false",
                 "+exp_manager.version=test"]) == 0
    assert not (tmp_path / config / "test" / "previews").exists()

    from atommic_core.registry import models

    model_name = {"qi_cirim": "qCIRIM", "qi_rim": "qRIM", "qi_varnet": "qVarNet"}[config]
    restored = models[model_name].restore_from(str(archive), map_location="cpu").eval()
    dataset = restored.build_dataset(restored.cfg.test_ds, "test")
    batch = default_collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        again = restored.predict_step(batch, 0)["qmaps"]
    order = np.argsort(batch["slice_idx"].numpy())
    np.testing.assert_allclose(again.numpy()[order], qmaps, rtol=1e-4, atol=1e-5)


def test_qzf_test_table_equals_independent_scores_of_predict(demo_data, tmp_path, capsys):
    """qZeroFilled needs no restore_path; its table = skimage/NumPy scores of its outputs."""
    from qi_metric_references import qmri_reference

    common = _common(demo_data, tmp_path, "model.write_png=false", "model.write_nifti=false")
    assert main(["test", "--config-name", "qi_zero_filled", *common,
                 "+exp_manager.version=test"]) == 0
    assert "qZeroFilled test metrics (qmri convention:" in capsys.readouterr().out
    assert main(["predict", "--config-name", "qi_zero_filled", *common,
                 "+exp_manager.version=predict"]) == 0
    run = tmp_path / "qi_zero_filled"
    rows = {r["fname"]: r for r in csv.DictReader(open(run / "test" / "metrics.csv"))}
    with h5py.File(run / "predict" / "predictions" / "qi_test_000.h5") as f:
        prediction = f["qmaps"][()]
    with h5py.File(demo_data / "test" / "qi_test_000.h5") as f:
        target, mask = f["qmaps"][()], f["anatomy_mask"][()]
    for k, name in enumerate(MAPS):
        want = qmri_reference(target[:, k], prediction[:, k], mask, phase=name == "phi")
        for key in ("ssim", "psnr", "nmse", "mae"):
            got = float(rows["qi_test_000.h5"][f"{name}_{key}"])
            assert got == pytest.approx(want[key], rel=1e-4, abs=1e-5), (name, key)


def test_a_trained_model_needs_restore_path_for_test(demo_data, tmp_path, capsys):
    assert main(["test", "--config-name", "qi_cirim", *_common(demo_data, tmp_path)]) == 2
    assert "missing required key model.restore_path" in capsys.readouterr().err
