"""QI under DDP (2 CPU processes, gloo) through the CLI: each volume scored whole, once."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
from atommic_cli_testkit import make_plugin_site, run_cli

from atommic_core.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = ["model.num_cascades=1", "model.time_steps=2", "model.conv_filters=[4,4,4]",
        "model.recurrent_filters=[4,4,0]", "exp_manager.create_tensorboard_logger=false",
        "model.log_images=0", "model.write_png=false", "model.write_nifti=false"]
NAMES = ["qi_test_000.h5", "qi_test_001.h5", "qi_test_002.h5"]


def _table(path):
    return {r["fname"]: r for r in csv.DictReader(open(path))}


def test_ddp_train_test_predict_score_each_volume_once(tmp_path):
    from atommic_qi.data.demo_data import make_qi_demo_data

    data = tmp_path / "data"
    make_qi_demo_data(data, coils=2, size=32, volumes=(2, 2, 3), slices=3, seed=0,
                      source="phantom")
    site = make_plugin_site(tmp_path / "site")
    common = [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path / 'exps'}", *TINY]
    ddp = ["trainer.devices=2", "trainer.strategy=ddp"]
    proc = run_cli(["train", "--config-name", "qi_cirim", *common, *ddp, "trainer.max_epochs=1",
                    "+exp_manager.version=ddp"], site, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("qCIRIM test metrics (qmri convention:") == 1
    run = tmp_path / "exps" / "qi_cirim" / "ddp"
    distributed = _table(run / "metrics.csv")
    assert sorted(distributed) == ["MEAN", *NAMES]
    assert all(r["slices"] == "3" for n, r in distributed.items() if n != "MEAN")

    restore = [f"model.restore_path={run / 'checkpoints' / 'qi_cirim.atommic'}"]
    assert main(["test", "--config-name", "qi_cirim", *common, *restore,
                 "+exp_manager.version=single"]) == 0
    single = _table(tmp_path / "exps" / "qi_cirim" / "single" / "metrics.csv")
    assert sorted(single) == sorted(distributed)
    keys = [k for k in single["MEAN"] if k not in ("fname", "slices", "convention")]
    for name, row in single.items():
        for key in keys:
            assert float(distributed[name][key]) == pytest.approx(float(row[key]), rel=1e-6,
                                                                  abs=1e-9), (name, key)

    proc = run_cli(["predict", "--config-name", "qi_cirim", *common, *ddp, *restore,
                    "+exp_manager.version=predict"], site, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "exps" / "qi_cirim" / "predict" / "predictions"
    assert not list(out.glob("rank_*"))  # whole volumes per rank: one folder
    assert sorted(p.name for p in out.glob("*.h5")) == NAMES
    for name in NAMES:
        with h5py.File(out / name) as f:
            assert f["qmaps"].shape == (3, 4, 32, 32) and np.isfinite(f["qmaps"][()]).all()
