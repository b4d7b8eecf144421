"""SIGTERM to a training CLI process: resumable checkpoint, exit 143, resume loses no step."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch
from atommic_cli_testkit import (
    base_config,
    cli_env,
    make_plugin_site,
    run_cli,
    run_dirs,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigterm_then_resume(tmp_path):
    site = make_plugin_site(tmp_path / "site")
    steps = tmp_path / "steps.txt"
    cfg = base_config(tmp_path / "exps", record_steps=str(steps), step_sleep=0.2)
    cfg["trainer"]["max_epochs"] = 3  # 12 steps
    folder = write_config(tmp_path / "cfg", cfg)
    args = ["train", "--config-path", str(folder), "--config-name", "exp"]
    proc = subprocess.Popen([sys.executable, "-m", "atommic_core", *args], cwd=str(site),
                            env=cli_env(site), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    seen = []
    deadline = time.monotonic() + 180
    try:
        for line in proc.stderr:  # plain log lines, one per step
            seen.append(line)
            if "epoch 0 step 2 " in line:
                proc.send_signal(signal.SIGTERM)
                break
            assert time.monotonic() < deadline, "".join(seen)
        rest = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, "".join(seen) + rest
    assert "SIGTERM received: wrote resumable checkpoint" in rest
    (run,) = run_dirs(tmp_path / "exps")
    ckpt = torch.load(run / "checkpoints" / "boring--interrupted.ckpt", weights_only=False)
    stopped_at = ckpt["global_step"]
    done = [int(s) for s in steps.read_text().split()]
    assert done == list(range(stopped_at))  # every finished step is in the checkpoint
    assert not (run / "checkpoints" / "boring.atommic").exists()

    steps.unlink()
    resumed = run_cli([*args, "exp_manager.resume_if_exists=true"], site)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"training starts at step {stopped_at}" in resumed.stderr
    assert [int(s) for s in steps.read_text().split()] == list(range(stopped_at, 12))
    assert (run / "checkpoints" / "boring.atommic").is_file()
