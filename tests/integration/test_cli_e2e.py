"""End to end through the real CLI in subprocesses: train -> test from .atommic -> resume."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from atommic_cli_testkit import base_config, make_plugin_site, run_cli, run_dirs, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ok(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_train_test_resume(tmp_path):
    site = make_plugin_site(tmp_path / "site")
    exp_dir = tmp_path / "exps"
    cfg = base_config(exp_dir, record_steps=str(tmp_path / "steps.txt"))
    cfg["exp_manager"].update(create_tensorboard_logger=True, create_csv_logger=True)
    folder = write_config(tmp_path / "cfg", cfg)
    args = ["--config-path", str(folder), "--config-name", "exp"]

    # 1. train: 2 epochs x 4 steps, then test
    train = _ok(run_cli(["train", *args], site))
    (run,) = run_dirs(exp_dir)
    ckpts = run / "checkpoints"
    for name in ("config.yaml", "cmd-args.log", "test_results.json",
                 "atommic_log_globalrank-0_localrank-0.txt", "csv/metrics.csv"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    assert "train --config-path" in (run / "cmd-args.log").read_text()
    assert "model_name: CliBoring" in (run / "config.yaml").read_text()
    assert "epoch 1 step 8" in train.stderr  # plain log lines: output is not a terminal
    rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    assert any(r.get("val_loss") for r in rows) and any(r.get("train_loss") for r in rows)
    trained = json.loads((run / "test_results.json").read_text())[0]["test_loss"]
    assert math.isfinite(trained)
    archive = ckpts / "boring.atommic"
    assert archive.is_file() and (ckpts / "boring--last.ckpt").is_file()

    # 2. test from the written .atommic, in a new run folder
    _ok(run_cli(["test", *args, f"+model.restore_path={archive}"], site))
    tested = run_dirs(exp_dir)[-1]
    assert tested != run
    assert json.loads((tested / "test_results.json").read_text())[0]["test_loss"] == \
        pytest.approx(trained)

    # 3. resumed train: one more epoch continues at step 8 in the first run folder
    before = archive.stat().st_mtime_ns
    (tmp_path / "steps.txt").unlink()
    resumed = _ok(run_cli(["train", *args, "trainer.max_epochs=3",
                           "exp_manager.resume_if_exists=true"], site))
    assert f"resume_if_exists: resuming from {ckpts}" in resumed.stderr
    assert "training starts at step 8 (epoch 2)" in resumed.stderr, resumed.stderr[-4000:]
    assert [int(s) for s in (tmp_path / "steps.txt").read_text().split()] == [8, 9, 10, 11]
    last = torch.load(ckpts / "boring--last.ckpt", weights_only=False)
    assert (last["global_step"], last["epoch"]) == (12, 2)
    assert archive.stat().st_mtime_ns > before  # re-exported at the end of the resumed run
    # the first session's metrics survive the resumed session's CSV logger
    assert list(csv.DictReader((run / "csv" / "metrics-0.csv").open())) == rows
    resumed_rows = list(csv.DictReader((run / "csv" / "metrics.csv").open()))
    assert min(int(r["step"]) for r in resumed_rows if r.get("train_loss")) >= 8
