"""DDP with 2 CPU processes (gloo) through the CLI: ranks agree, unequal work does not hang."""

from __future__ import annotations

import json

import pytest
import torch
from atommic_cli_testkit import base_config, make_plugin_site, run_cli, run_dirs, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_ddp_two_cpu_processes_unequal_eval_work(tmp_path):
    site = make_plugin_site(tmp_path / "site")
    cfg = base_config(tmp_path / "exps")
    cfg["trainer"].update(strategy="ddp", devices=2, max_epochs=1)
    # after the distributed sampler: validation 2 batches on rank 0 and 1 on rank 1; test 3 / 1
    cfg["model"]["validation_ds"]["per_rank_samples"] = [32, 8]
    cfg["model"]["test_ds"]["per_rank_samples"] = [48, 8]
    folder = write_config(tmp_path / "cfg", cfg)
    proc = run_cli(["train", "--config-path", str(folder), "--config-name", "exp"], site,
                   timeout=300)  # a hang fails here instead of blocking the suite
    assert proc.returncode == 0, proc.stderr[-4000:]
    (run,) = run_dirs(tmp_path / "exps")  # both ranks used the same run folder
    assert (run / "atommic_log_globalrank-0_localrank-0.txt").is_file()
    assert (run / "atommic_log_globalrank-1_localrank-1.txt").is_file()
    rank0 = json.loads((run / "test_metrics_rank0.json").read_text())
    rank1 = json.loads((run / "test_metrics_rank1.json").read_text())
    assert rank0["test_loss"] == pytest.approx(rank1["test_loss"], rel=1e-6)
    val0 = json.loads((run / "val_metrics_rank0.json").read_text())["val_loss"]
    val1 = json.loads((run / "val_metrics_rank1.json").read_text())["val_loss"]
    assert val0 == pytest.approx(val1, rel=1e-6)
    archive = run / "checkpoints" / "boring.atommic"
    assert archive.is_file()

    # predict on 2 ranks: each rank writes the part of the data it saw
    proc = run_cli(["predict", "--config-path", str(folder), "--config-name", "exp",
                    f"+model.restore_path={archive}"], site, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = run_dirs(tmp_path / "exps")[-1] / "predictions"
    parts = [torch.load(out / f"rank_{r}" / "predictions.pt") for r in (0, 1)]
    # test_ds (used for predict) has 48 samples on rank 0's view and 8 on rank 1's: the
    # distributed sampler gives rank 0 half of 48 and rank 1 half of 8
    assert [p.shape[0] for p in parts] == [24, 4]
