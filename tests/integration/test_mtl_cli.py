"""MTL end to end through the real CLI: train, test and predict; tables vs independent scores."""

from __future__ import annotations

import csv

import h5py
import nibabel as nib
import numpy as np
import pytest
from atommic_cli_testkit import make_plugin_site, run_cli

from atommic_core.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TINY = {
    "mtl_mtlrs": ["model.time_steps=2", "model.conv_filters=[4,4,2]",
                  "model.recurrent_filters=[4,4,0]", "model.segmentation_channels=4",
                  "model.segmentation_pools=2"],
    "mtl_segnet": ["model.num_coils=2", "model.num_cascades=2", "model.channels=4",
                   "model.pooling_layers=2"],
    "mtl_recseg_unet": ["model.reconstruction_channels=4", "model.reconstruction_pools=2",
                        "model.segmentation_channels=4", "model.segmentation_pools=2"],
    "mtl_idslr": ["model.num_coils=2", "model.num_iters=2", "model.channels=4",
                  "model.pooling_layers=2"],
    "mtl_idslr_unet": ["model.num_coils=2", "model.num_iters=2", "model.channels=4",
                       "model.pooling_layers=2", "model.segmentation_channels=4",
                       "model.segmentation_pools=2"],
    "mtl_seranet": ["model.num_reconstruction_blocks=1", "model.reconstruction_channels=4",
                    "model.reconstruction_pools=2", "model.segmentation_channels=4",
                    "model.segmentation_pools=2", "model.recurrent_iterations=1",
                    "model.recurrent_channels=4"],
}
COMMON = ["exp_manager.create_tensorboard_logger=false", "model.log_images=0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from atommic_mtl.data.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("mtl_cli")
    make_demo_data(root, coils=2, size=32, volumes=(1, 1, 2), slices=2, seed=0)
    return root


def _rows(path, key):
    return {r[key] + ("/" + r["class"] if "class" in r else ""): r
            for r in csv.DictReader(open(path))}


@pytest.mark.parametrize("config", ["mtl_mtlrs", "mtl_segnet"])
def test_train_test_predict_tables_match_independent_scores(config, data, tmp_path):
    from metric_references import fastmri_reference

    common = [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path}", *COMMON,
              *TINY[config]]
    assert main(["train", "--config-name", config, *common, "trainer.max_epochs=1",
                 "+trainer.max_steps=2", "+exp_manager.version=train"]) == 0
    archive = tmp_path / config / "train" / "checkpoints" / f"{config}.atommic"
    assert archive.is_file()
    restore = [f"model.restore_path={archive}"]
    assert main(["test", "--config-name", config, *common, *restore,
                 "+exp_manager.version=test"]) == 0
    assert main(["predict", "--config-name", config, *common, *restore,
                 "+exp_manager.version=predict"]) == 0
    tested = tmp_path / config / "test"
    rec = _rows(tested / "metrics.csv", "fname")
    seg = _rows(tested / "segmentation_metrics_per_case.csv", "case")
    assert sorted(rec) == ["MEAN", "mtl_test_000.h5", "mtl_test_001.h5"]
    assert (tested / "previews" / "mtl_test_000.png").is_file()
    out = tmp_path / config / "predict" / "predictions"
    for name in ("mtl_test_000", "mtl_test_001"):
        with h5py.File(out / f"{name}.h5") as f, h5py.File(data / "test" / f"{name}.h5") as g:
            prediction, labels = f["reconstruction"][()], f["segmentation"][()]
            target, reference = g["reconstruction_sense"][()], g["segmentation"][()]
        assert prediction.shape == (2, 32, 32) and labels.dtype == np.uint8
        want = fastmri_reference(target, prediction)
        for key in ("ssim", "psnr", "nmse"):
            assert float(rec[f"{name}.h5"][key]) == pytest.approx(want[key], rel=1e-4, abs=1e-4)
        for c, cls in enumerate(("csf", "grey_matter", "white_matter"), start=1):
            p, t = labels == c, reference == c
            if not (p.any() or t.any()):
                assert seg[f"{name}.h5/{cls}"]["dice"] == "nan"
                continue
            dice = 2 * np.logical_and(p, t).sum() / (p.sum() + t.sum())
            assert float(seg[f"{name}.h5/{cls}"]["dice"]) == pytest.approx(dice, abs=1e-6)
        nifti = nib.load(out / f"{name}.nii.gz")
        np.testing.assert_array_equal(np.moveaxis(np.asarray(nifti.dataobj), 2, 0), labels)
        assert (out / "previews" / f"{name}.png").is_file()


@pytest.mark.parametrize("config", ["mtl_idslr", "mtl_idslr_unet", "mtl_recseg_unet",
                                    "mtl_seranet"])
def test_other_models_train_test_and_predict_through_the_cli(config, data, tmp_path):
    """One training step, then ``test`` and ``predict`` from the archive: both tasks' tables
    and every output file (the scores themselves are checked above for MTLRS and SegNet)."""
    common = [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path}", *COMMON,
              *TINY[config], "model.write_png=false"]
    assert main(["train", "--config-name", config, *common, "trainer.max_epochs=1",
                 "+trainer.max_steps=1", "+trainer.limit_val_batches=0",
                 "+exp_manager.version=train"]) == 0
    restore = [f"model.restore_path={tmp_path / config / 'train' / 'checkpoints'}/{config}.atommic"]
    for command in ("test", "predict"):
        assert main([command, "--config-name", config, *common, *restore,
                     f"+exp_manager.version={command}"]) == 0
    tested = tmp_path / config / "test"
    assert sorted(_rows(tested / "metrics.csv", "fname")) == [
        "MEAN", "mtl_test_000.h5", "mtl_test_001.h5"]
    seg = _rows(tested / "segmentation_metrics_per_case.csv", "case")
    assert {r["case"] for r in seg.values()} == {"mtl_test_000.h5", "mtl_test_001.h5"}
    out = tmp_path / config / "predict" / "predictions"
    for name in ("mtl_test_000", "mtl_test_001"):
        with h5py.File(out / f"{name}.h5") as f:
            assert f["reconstruction"].shape == f["segmentation"].shape == (2, 32, 32)
        assert (out / f"{name}.nii.gz").is_file()


def test_ddp_scores_each_volume_once_like_one_process(tmp_path):
    from atommic_mtl.data.demo_data import make_demo_data

    config, data = "mtl_recseg_unet", tmp_path / "data"
    make_demo_data(data, coils=2, size=32, volumes=(2, 2, 3), slices=2, seed=0,
                   source="phantom")  # 3 test volumes on 2 processes
    site = make_plugin_site(tmp_path / "site")
    common = [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path / 'exps'}", *COMMON,
              *TINY[config]]
    proc = run_cli(["train", "--config-name", config, *common, "trainer.devices=2",
                    "trainer.strategy=ddp", "trainer.max_epochs=1", "+exp_manager.version=ddp"],
                   site, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("RecSegUNet segmentation test metrics") == 1
    run = tmp_path / "exps" / config / "ddp"
    archive = run / "checkpoints" / f"{config}.atommic"
    assert main(["test", "--config-name", config, *common, f"model.restore_path={archive}",
                 "+exp_manager.version=single"]) == 0
    single = tmp_path / "exps" / config / "single"
    for table, key in (("metrics.csv", "fname"), ("segmentation_metrics_per_case.csv", "case")):
        distributed, one = _rows(run / table, key), _rows(single / table, key)
        assert sorted(distributed) == sorted(one)
        for name, row in one.items():
            for metric, value in row.items():
                if metric in ("fname", "case", "class", "convention"):
                    continue
                assert float(distributed[name][metric]) == pytest.approx(
                    float(value), rel=1e-6, abs=1e-9, nan_ok=True), (name, metric)
    assert all(r["slices"] == "2" for n, r in _rows(run / "metrics.csv", "fname").items()
               if n != "MEAN")
