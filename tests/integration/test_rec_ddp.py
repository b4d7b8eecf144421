"""REC under DDP (2 CPU processes, gloo) through the CLI: one exact per-volume table."""

from __future__ import annotations

import csv

import h5py
import pytest
from atommic_cli_testkit import make_plugin_site, run_cli

from atommic_core.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = ["model.num_cascades=2", "model.channels=4", "model.pooling_layers=2",
        "exp_manager.create_tensorboard_logger=false", "model.log_images=0"]


def _table(path):
    return {r["fname"]: r for r in csv.DictReader(open(path))}


def test_ddp_train_test_predict_score_each_volume_once(tmp_path):
    from metric_references import fastmri_reference

    from atommic_rec.data.demo_data import make_demo_data

    data = tmp_path / "data"
    make_demo_data(data, coils=2, size=32, volumes=(2, 2, 3), slices=3, seed=0, source="phantom")
    site = make_plugin_site(tmp_path / "site")
    common = [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path / 'exps'}", *TINY]
    ddp = ["trainer.devices=2", "trainer.strategy=ddp"]
    proc = run_cli(["train", "--config-name", "rec_varnet", *common, *ddp, "trainer.max_epochs=1",
                    "+exp_manager.version=ddp"], site, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("VarNet test metrics (fastmri convention:") == 1
    assert "sync_dist" not in proc.stderr  # Lightning's warning about unsynced epoch metrics
    run = tmp_path / "exps" / "rec_varnet" / "ddp"
    distributed = _table(run / "metrics.csv")
    assert sorted(distributed) == ["MEAN", "demo_test_000.h5", "demo_test_001.h5",
                                   "demo_test_002.h5"]
    assert all(r["slices"] == "3" for n, r in distributed.items() if n != "MEAN")

    archive = run / "checkpoints" / "rec_varnet.atommic"
    restore = [f"model.restore_path={archive}", "model.write_png=false"]
    assert main(["test", "--config-name", "rec_varnet", *common, *restore,
                 "+exp_manager.version=single"]) == 0
    single = _table(tmp_path / "exps" / "rec_varnet" / "single" / "metrics.csv")
    assert sorted(single) == sorted(distributed)
    for name, row in single.items():
        for key in ("ssim", "psnr", "nmse"):
            assert float(distributed[name][key]) == pytest.approx(float(row[key]), rel=1e-6,
                                                                  abs=1e-9), (name, key)

    proc = run_cli(["predict", "--config-name", "rec_varnet", *common, *ddp, *restore,
                    "+exp_manager.version=predict"], site, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "exps" / "rec_varnet" / "predict" / "predictions"
    assert not list(out.glob("rank_*"))  # whole volumes per rank: one folder
    assert sorted(p.name for p in out.glob("*.h5")) == ["demo_test_000.h5", "demo_test_001.h5",
                                                        "demo_test_002.h5"]
    for name in ("demo_test_000.h5", "demo_test_001.h5", "demo_test_002.h5"):
        with h5py.File(out / name) as f, h5py.File(data / "test" / name) as g:
            target_key = next(k for k in ("reconstruction_sense", "reconstruction_rss") if k in g)
            want = fastmri_reference(g[target_key][()], f["reconstruction"][()])
        for key in ("ssim", "psnr", "nmse"):
            assert float(single[name][key]) == pytest.approx(want[key], rel=1e-4, abs=1e-4)
