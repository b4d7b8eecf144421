"""The example plugin as a user meets it: names in YAML, the listing and the real CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from atommic_example_plugin import Lamb, WarmupCosineRestarts
from omegaconf import OmegaConf

from atommic_core import plugins
from atommic_core.optim.lr_scheduler import AVAILABLE_SCHEDULERS, prepare_lr_scheduler
from atommic_core.optim.optimizers import AVAILABLE_OPTIMIZERS, get_optimizer
from atommic_core.testing import BoringModel

CONFIG = """
trainer:
  max_steps: 8
  accelerator: cpu
  devices: 1
  logger: false
  enable_checkpointing: false
  enable_progress_bar: false
  enable_model_summary: false
model:
  train_ds: {num_samples: 16, batch_size: 4}
  optim:
    name: lamb
    lr: 0.05
    weight_decay: 0.01
    sched:
      name: WarmupCosineRestarts
      max_steps: -1        # computed from the trainer: 8
      warmup_steps: 2
      num_cycles: 2
      restart_decay: 0.5
"""


@pytest.fixture
def fresh():
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def test_registered_through_the_entry_point(fresh):
    for registry, name, cls in ((AVAILABLE_OPTIMIZERS, "lamb", Lamb),
                                (AVAILABLE_SCHEDULERS, "WarmupCosineRestarts",
                                 WarmupCosineRestarts)):
        entry = registry.entry(name)
        assert entry.obj is cls
        assert (entry.plugin, entry.distribution) == ("example", "atommic-example-plugin")


def test_lamb_single_step_by_hand():
    p = torch.nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))  # ||w|| = 5
    p.grad = torch.tensor([1.0, -1.0], dtype=torch.float64)
    get_optimizer("lamb", lr=0.1, eps=0.0, weight_decay=0.5)([p]).step()
    # bias-corrected m_hat = g, v_hat = g**2 -> r = sign(g); u = r + 0.5 * w
    u = [1.0 + 1.5, -1.0 + 2.0]
    ratio = 5.0 / math.hypot(*u)
    expected = [3.0 - 0.1 * ratio * u[0], 4.0 - 0.1 * ratio * u[1]]
    torch.testing.assert_close(p.data, torch.tensor(expected, dtype=torch.float64))


def test_lamb_trust_ratio_is_capped_and_falls_back_to_one():
    big = torch.nn.Parameter(torch.full((4,), 100.0))
    zero = torch.nn.Parameter(torch.zeros(4))
    for p in (big, zero):
        p.grad = torch.ones(4)
    Lamb([big, zero], lr=0.01, eps=0.0, weight_decay=0.0, max_trust_ratio=2.0).step()
    torch.testing.assert_close(big.data, torch.full((4,), 100.0 - 0.01 * 2.0))  # capped at 2
    torch.testing.assert_close(zero.data, torch.full((4,), -0.01))  # ||w|| = 0: ratio 1


def _restarts(lr0, t, warmup=2, total=8, cycles=2, decay=0.5):
    if t <= warmup:
        return lr0 * (t + 1) / (warmup + 1)
    length = (total - warmup) / cycles
    k = min(int((t - warmup) // length), cycles - 1)
    pos = t - warmup - k * length
    return lr0 * decay ** k * 0.5 * (1 + math.cos(math.pi * pos / length))


def test_warmup_cosine_restarts_curve():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    sched = prepare_lr_scheduler(opt, {"name": "WarmupCosineRestarts", "max_steps": 8,
                                       "warmup_steps": 2, "num_cycles": 2,
                                       "restart_decay": 0.5})["scheduler"]
    got = []
    for _ in range(10):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [_restarts(0.05, t) for t in range(9)] + [0.0]
    assert got == pytest.approx(expected)
    assert got[5] == pytest.approx(0.025)  # the restart begins at the decayed peak


class _LrLog(pl.Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_trains_boring_model_by_name_from_yaml(tmp_path):
    cfg = OmegaConf.create(CONFIG)
    model = BoringModel(cfg.model)
    before = [p.detach().clone() for p in model.parameters()]
    log = _LrLog()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(default_root_dir=tmp_path, callbacks=[log], **cfg.trainer)
        trainer.fit(model)
    assert type(trainer.optimizers[0]) is Lamb
    assert type(trainer.lr_scheduler_configs[0].scheduler) is WarmupCosineRestarts
    assert log.lrs == pytest.approx([_restarts(0.05, t) for t in range(8)])
    assert trainer.global_step == 8
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def _cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "atommic_core", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)


def test_list_shows_the_plugin_behind_each_name(fresh, capsys):
    from atommic_core.cli import main

    assert main(["list", "optimizers"]) == 0 and main(["list", "schedulers"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line[:2] == "  "}
    assert lines["lamb"] == ["example", "atommic-example-plugin"]
    assert lines["WarmupCosineRestarts"] == ["example", "atommic-example-plugin"]
    assert lines["novograd"] == ["core", "atommic-core"]


RECORDING_MODEL = '''
import json
from atommic_core import hookimpl
from atommic_core.testing import BoringModel

class RecordingBoringModel(BoringModel):
    """BoringModel that writes the optimizer, scheduler and lr per step to cfg.record_to."""

    def on_train_batch_start(self, batch, batch_idx):
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.__dict__.setdefault("_lrs", []).append(lr)

    def on_train_end(self):
        configs = self.trainer.lr_scheduler_configs
        with open(self.cfg.record_to, "w") as f:
            json.dump({"optimizer": type(self.trainer.optimizers[0]).__name__,
                       "scheduler": type(configs[0].scheduler).__name__ if configs else None,
                       "lrs": self._lrs, "global_step": self.trainer.global_step}, f)

@hookimpl
def atommic_register_models(register):
    register("RecordingBoringModel", RecordingBoringModel)
'''


@pytest.mark.slow
def test_trains_through_the_real_cli(tmp_path):
    # A throwaway distribution registers a model the CLI can find by name.
    site = tmp_path / "site"
    info = site / "recording_model-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: recording-model\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[atommic]\nrecmodel = _recording_model\n")
    (site / "_recording_model.py").write_text(textwrap.dedent(RECORDING_MODEL))
    cfg = OmegaConf.create(CONFIG)
    cfg.trainer.pop("logger")
    cfg.trainer.pop("enable_checkpointing")
    cfg.exp_manager = {"exp_dir": str(tmp_path / "exp"), "create_tensorboard_logger": False,
                       "create_checkpoint_callback": False, "save_atommic_on_train_end": False}
    cfg.model.model_name = "RecordingBoringModel"
    cfg.model.record_to = str(tmp_path / "record.json")
    OmegaConf.save(cfg, tmp_path / "train.yaml")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    proc = _cli("train", "--config-path", str(tmp_path), "--config-name", "train",
                "trainer.max_steps=6", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(Path(cfg.model.record_to).read_text())
    assert (record["optimizer"], record["scheduler"]) == ("Lamb", "WarmupCosineRestarts")
    assert record["global_step"] == 6
    assert record["lrs"] == pytest.approx([_restarts(0.05, t, total=6) for t in range(6)])
