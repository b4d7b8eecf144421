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
