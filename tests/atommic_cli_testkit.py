"""Shared helpers for the CLI / experiment-manager tests (not a test module).

Holds ``CliBoring`` (a ``BoringModel`` with test hooks), the plugin hook registering it, a
config writer, and a throwaway installed-looking distribution so a CLI *subprocess* finds
the model through a real entry point of group ``atommic``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import atommic_core
from atommic_core.errors import AtommicError
from atommic_core.testing import BoringModel

MODEL_NAME = "CliBoring"
TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


class CliBoring(BoringModel):
    """``BoringModel`` plus hooks driven by config keys.

    ``step_sleep`` (s per step), ``record_steps`` (file: one global step per line),
    ``signal_at_step``/``signal_name``/``signal_count`` (the process signals itself), and for
    data sections ``per_rank_samples`` (list: the split size on each rank, unequal DDP work).
    ``on_validation_end``/``on_test_end`` write ``val|test_metrics_rank<r>.json`` to
    ``output_dir``. Failures on demand: ``reject_init`` (ValueError in ``__init__``),
    ``bad_split`` (that split's dataset raises a ``DataFileError``-like ``AtommicError``),
    ``raise_at_step`` / ``raise_kind`` (``runtime`` or ``atommic``) in a training step,
    ``nan_at_step`` (the loss of that step is NaN).
    """

    def __init__(self, cfg: Any, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        if self.cfg.get("reject_init"):
            raise ValueError(f"reject_init: expected false, found {self.cfg.reject_init!r}")

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = super().training_step(batch, batch_idx)
        if self.cfg.get("nan_at_step") == self.global_step:
            loss = loss * float("nan")
        if self.cfg.get("record_steps"):
            with open(self.cfg.record_steps, "a", encoding="utf-8") as f:
                f.write(f"{self.global_step}\n")
        if self.cfg.get("signal_at_step") == self.global_step:
            for _ in range(int(self.cfg.get("signal_count", 1))):
                os.kill(os.getpid(), getattr(signal, self.cfg.get("signal_name", "SIGTERM")))
        if self.cfg.get("step_sleep"):
            time.sleep(float(self.cfg.step_sleep))
        if self.cfg.get("raise_at_step") == self.global_step:
            if self.cfg.get("raise_kind", "runtime") == "atommic":
                raise AtommicError(f"planned failure at {self.global_step}")
            raise RuntimeError(f"planned crash at step {self.global_step}")
        return loss

    def build_dataset(self, cfg: Any, split: str) -> Any:
        if self.cfg.get("bad_split") == split:
            raise AtommicError(f"{split} data: bad.h5 is truncated")
        per_rank = cfg.get("per_rank_samples")
        if per_rank:
            from lightning_fabric.utilities.rank_zero import _get_rank
            from omegaconf import OmegaConf

            # data are built before the trainer exists: the launcher's rank variables tell
            cfg = OmegaConf.merge(cfg, {"num_samples": int(per_rank[_get_rank() or 0])})
        return super().build_dataset(cfg, split)

    def _dump_metrics(self, split: str) -> None:
        if self.output_dir and not self.trainer.sanity_checking:
            metrics = {k: float(v) for k, v in self.trainer.callback_metrics.items()}
            path = Path(self.output_dir) / f"{split}_metrics_rank{self.global_rank}.json"
            path.write_text(json.dumps(metrics))

    def on_validation_end(self) -> None:
        self._dump_metrics("val")

    def on_test_end(self) -> None:
        self._dump_metrics("test")


@atommic_core.hookimpl
def atommic_register_models(register: Any) -> None:
    """Register ``CliBoring``."""
    register(MODEL_NAME, CliBoring)


@pytest.fixture
def cli_plugin(fresh_plugins: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register this module as an in-process plugin (``CliBoring``) on a fresh manager."""
    from atommic_core.exp_manager.log_dir import VERSION_ENV

    monkeypatch.delenv(VERSION_ENV, raising=False)
    fresh_plugins.register_plugin(sys.modules[__name__], "cli_testkit", "atommic-cli-testkit")
    return fresh_plugins


def main_run(folder: Path, command: str, *overrides: str, name: str = "exp") -> int:
    """``python -m atommic_core COMMAND`` in this process; returns the exit code."""
    from atommic_core.cli import main

    return main([command, "--config-path", str(folder), "--config-name", name, *overrides])


def base_config(exp_dir: Path, **model: Any) -> dict[str, Any]:
    """A tiny experiment: 4 train steps per epoch, validation and test sets, Adam."""
    return {
        "name": "boring",
        "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 2, "log_every_n_steps": 1,
                    "enable_model_summary": False, "num_sanity_val_steps": 0},
        "exp_manager": {"exp_dir": str(exp_dir), "create_tensorboard_logger": False},
        "model": {"model_name": MODEL_NAME, "train_ds": {"num_samples": 32, "batch_size": 8},
                  "validation_ds": {"num_samples": 16, "batch_size": 8},
                  "test_ds": {"num_samples": 16, "batch_size": 8},
                  "optim": {"name": "adam", "lr": 0.01}, **model},
    }


def write_config(folder: Path, cfg: dict[str, Any], name: str = "exp") -> Path:
    """Write ``cfg`` as ``folder/<name>.yaml`` and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return folder


def make_plugin_site(folder: Path) -> Path:
    """A folder with an ``atommic-cli-testkit`` dist-info whose entry point is this module."""
    info = folder / "atommic_cli_testkit-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: atommic-cli-testkit\n"
                                   "Version: 0.0.1\n")
    (info / "entry_points.txt").write_text("[atommic]\ncli_testkit = atommic_cli_testkit\n")
    return folder


def cli_env(site: Path) -> dict[str, str]:
    """Environment for a CLI subprocess that sees the test plugin, one thread, no network."""
    env = dict(os.environ)
    paths = [str(site), str(TESTS_DIR), env.get("PYTHONPATH", "")]
    env.update(PYTHONPATH=os.pathsep.join(p for p in paths if p), OMP_NUM_THREADS="1",
               WANDB_MODE="offline", PYTHONUNBUFFERED="1")
    env.pop("ATOMMIC_EXP_VERSION", None)
    return env


def run_cli(args: list[str], site: Path, timeout: float = 240, **kw: Any) -> Any:
    """Run ``python -m atommic_core ARGS`` to completion; returns ``CompletedProcess``."""
    return subprocess.run([sys.executable, "-m", "atommic_core", *args], cwd=str(site),
                          env=cli_env(site), capture_output=True, text=True, timeout=timeout,
                          **kw)


def run_dirs(exp_dir: Path, name: str = "boring") -> list[Path]:
    """The run folders of an experiment, oldest first."""
    return sorted((exp_dir / name).iterdir(), key=lambda p: p.stat().st_mtime)
