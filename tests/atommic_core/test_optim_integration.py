"""Optimizers and schedulers inside real training: step counts, resume, epoch schedulers,
and every listed optimizer with every listed scheduler."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from atommic_core.optim import build_optimization
from atommic_core.optim.lr_scheduler import AVAILABLE_SCHEDULERS
from atommic_core.optim.optimizers import AVAILABLE_OPTIMIZERS
from atommic_core.testing import BoringModel

QUIET = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
             enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")
# Arguments without defaults, per scheduler; any other required field fails the cross test.
REQUIRED = {"NoamAnnealing": {"d_model": 8}, "StepLR": {"step_size": 1}}


@pytest.fixture(autouse=True)
def _quiet_lightning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(num_workers|does not have many workers|"
                                "LeafSpec|Checkpoint directory|isinstance|"
                                "ended before the epoch ended|Total length of).*")
        yield


class RecordSteps(pl.Callback):
    """Records the lr of group 0 before every batch and, at the end, step counts to a file."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_end(self, trainer, pl_module):
        sched = trainer.lr_scheduler_configs[0].scheduler
        self.result = {"global_step": trainer.global_step, "world_size": trainer.world_size,
                       "max_steps": getattr(sched, "max_steps", None)}
        if self.path and trainer.global_rank == 0:
            Path(self.path).write_text(json.dumps(self.result))


def _model_cfg(sched, optim=None, num_samples=24, batch_size=4, **train_ds):
    return {"train_ds": {"num_samples": num_samples, "batch_size": batch_size, **train_ds},
            "validation_ds": {"num_samples": 8, "batch_size": 4},
            "optim": {"name": "adam", "lr": 0.1, **(optim or {}), "sched": sched}}


def _fit(tmp_path, model_cfg, ckpt_path=None, **trainer_kwargs):
    rec = RecordSteps()
    trainer = pl.Trainer(default_root_dir=tmp_path, callbacks=[rec], **{**QUIET, **trainer_kwargs})
    trainer.fit(BoringModel(model_cfg), ckpt_path=ckpt_path)
    return trainer, rec


COSINE = {"name": "CosineAnnealing", "max_steps": -1, "warmup_steps": 1, "min_lr": 1e-4}


@pytest.mark.parametrize("data, trainer_kwargs", [
    ({"num_samples": 10, "batch_size": 3}, {"max_epochs": 2}),
    ({"num_samples": 10, "batch_size": 3, "drop_last": True}, {"max_epochs": 3}),
    ({"num_samples": 22, "batch_size": 2}, {"max_epochs": 2, "accumulate_grad_batches": 3}),
    ({"num_samples": 40, "batch_size": 4}, {"max_epochs": 2, "limit_train_batches": 0.35}),
    ({"num_samples": 40, "batch_size": 4}, {"max_epochs": 3, "limit_train_batches": 2}),
    ({"num_samples": 40, "batch_size": 4}, {"max_epochs": 5, "max_steps": 7}),
])
def test_computed_max_steps_equals_the_steps_fit_takes(tmp_path, data, trainer_kwargs):
    trainer, rec = _fit(tmp_path, _model_cfg(COSINE, **data), **trainer_kwargs)
    assert rec.result["max_steps"] == rec.result["global_step"] == trainer.global_step
    assert rec.result["global_step"] > 0


def test_computed_max_steps_with_two_ddp_processes(tmp_path, monkeypatch):
    # 2 CPU processes (gloo): each sees half the data through the distributed sampler.
    # "ddp_fork" starts in under a second; ATOMMIC_TEST_DDP=ddp_spawn checks spawn (~35 s).
    import socket

    with socket.socket() as sock:  # a port of our own; the env is restored afterwards
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MASTER_PORT", str(sock.getsockname()[1]))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    out = tmp_path / "steps.json"
    strategy = os.environ.get("ATOMMIC_TEST_DDP", "ddp_fork")
    trainer = pl.Trainer(default_root_dir=tmp_path, callbacks=[RecordSteps(str(out))],
                         devices=2, strategy=strategy, max_epochs=2,
                         **{k: v for k, v in QUIET.items() if k != "num_sanity_val_steps"})
    trainer.fit(BoringModel(_model_cfg(COSINE, num_samples=22, batch_size=3)))
    result = json.loads(out.read_text())
    assert result["world_size"] == 2
    # 11 samples per rank -> 4 batches -> 8 steps; one process would take 16
    assert result["max_steps"] == result["global_step"] == 8


def test_resume_mid_schedule_restores_the_exact_lr(tmp_path):
    sched = {"name": "CosineAnnealing", "max_steps": 10, "warmup_steps": 2, "min_lr": 1e-3}
    cfg = _model_cfg(sched, optim={"name": "novograd"}, num_samples=24, batch_size=4)
    _, full = _fit(tmp_path / "full", cfg, max_steps=10)
    first, part = _fit(tmp_path / "part", cfg, max_steps=4)  # stops mid-epoch (6 batches)
    ckpt = tmp_path / "mid.ckpt"
    first.save_checkpoint(ckpt)
    resumed_trainer, resumed = _fit(tmp_path / "resumed", cfg, ckpt_path=str(ckpt), max_steps=10)
    assert part.lrs == full.lrs[:4]
    assert resumed.lrs == full.lrs[4:]  # exact, not approximate
    assert resumed.lrs[0] != full.lrs[0]
    assert resumed_trainer.lr_scheduler_configs[0].scheduler.last_epoch == 10


def test_exponential_lr_steps_once_per_epoch(tmp_path):
    cfg = _model_cfg({"name": "ExponentialLR", "gamma": 0.5}, num_samples=8, batch_size=4)
    _, rec = _fit(tmp_path, cfg, max_epochs=3)
    assert rec.lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def test_reduce_on_plateau_follows_the_monitored_metric(tmp_path):
    # threshold 10 (relative) means nothing ever counts as an improvement: with patience 0
    # the lr halves after every validation of val_loss.
    sched = {"name": "ReduceLROnPlateau", "monitor": "val_loss", "factor": 0.5, "patience": 0,
             "threshold": 10.0}
    _, rec = _fit(tmp_path, _model_cfg(sched, num_samples=8, batch_size=4), max_epochs=3)
    assert rec.lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def _required_args(name, params):
    if name in REQUIRED:
        return REQUIRED[name]
    missing = [f.name for f in dataclasses.fields(params)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert not missing, f"scheduler {name} requires {missing}: add it to REQUIRED"
    return {}


def test_every_optimizer_with_every_scheduler_takes_steps():
    """The exact objects build_optimization returns, in a small manual loop (3 steps)."""
    x, y = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.ones(8, 1)
    failures, combos = [], 0
    for opt_name in AVAILABLE_OPTIMIZERS:
        for entry in AVAILABLE_SCHEDULERS.entries():
            sched = {"name": entry.name, "max_steps": 3, **_required_args(entry.name, entry.params)}
            with torch.random.fork_rng():
                torch.manual_seed(0)
                model = BoringModel({})
            out = build_optimization(model, {"name": opt_name, "lr": 0.01, "sched": sched})
            opt, cfg = out["optimizer"], out["lr_scheduler"]
            before = [p.detach().clone() for p in model.parameters()]
            for _ in range(3):
                loss = torch.nn.functional.mse_loss(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                cfg["scheduler"].step(loss.item()) if cfg["reduce_on_plateau"] else \
                    cfg["scheduler"].step()
            lrs = [g["lr"] for g in opt.param_groups]
            after = list(model.parameters())
            moved = any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
            if not (math.isfinite(loss.item()) and moved and all(math.isfinite(v) for v in lrs)):
                failures.append(f"{opt_name}+{entry.name}")
            combos += 1
    assert not failures, failures
    assert combos >= 10 * 14


@pytest.mark.parametrize("opt_name, sched", [
    ("novograd", {"name": "CosineAnnealing", "warmup_ratio": 0.3}),
    ("lion", {"name": "PolynomialHoldDecayAnnealing", "warmup_steps": 1, "hold_steps": 1}),
    ("adamw", {"name": "NoamAnnealing", "d_model": 8, "warmup_steps": 2}),
    ("rmsprop", {"name": "CyclicLR", "step_size_up": 2}),
    ("sgd", {"name": "StepLR", "step_size": 2}),
    ("adagrad", {"name": "ReduceLROnPlateau"}),
    ("rprop", {"name": "ExponentialLR"}),
])
def test_representative_pairs_train_with_a_real_trainer(tmp_path, opt_name, sched):
    cfg = _model_cfg({"max_steps": -1, **sched}, optim={"name": opt_name, "lr": 0.01},
                     num_samples=12, batch_size=4)
    trainer, rec = _fit(tmp_path, cfg, max_steps=3, max_epochs=1)
    assert trainer.global_step == 3
    assert type(trainer.optimizers[0]) is AVAILABLE_OPTIMIZERS[opt_name]
    assert type(trainer.lr_scheduler_configs[0].scheduler) is AVAILABLE_SCHEDULERS[sched["name"]]
    assert all(math.isfinite(v) for v in rec.lrs)


CLI_CONFIG = """
trainer: {max_epochs: 2, accelerator: cpu, devices: 1, enable_progress_bar: false,
          enable_model_summary: false}
exp_manager: {create_tensorboard_logger: false, create_checkpoint_callback: false,
              save_atommic_on_train_end: false}
model:
  model_name: CliRecorder
  train_ds: {num_samples: 12, batch_size: 4}
  optim:
    name: novograd
    lr: 0.05
    betas: [0.9, 0.98]
    sched: {name: CosineAnnealing, warmup_steps: 1, min_lr: 0.001}
"""


class _CliRecorder(BoringModel):
    """BoringModel that keeps what each run used: optimizer, scheduler, steps, lrs."""

    runs: list[dict] = []

    def on_train_batch_start(self, batch, batch_idx):
        self.__dict__.setdefault("_lrs", []).append(
            self.trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_end(self):
        sched = self.trainer.lr_scheduler_configs[0].scheduler
        self.runs.append({"optimizer": type(self.trainer.optimizers[0]).__name__,
                          "scheduler": type(sched).__name__, "lrs": self._lrs,
                          "max_steps": getattr(sched, "max_steps", None),
                          "global_step": self.trainer.global_step})


@pytest.fixture
def cli_recorder(fresh_plugins):
    """``CliRecorder`` registered as a model for in-process ``python -m atommic_core train``."""
    from atommic_core import hookimpl

    class Plugin:
        @hookimpl
        def atommic_register_models(self, register):
            register("CliRecorder", _CliRecorder)

    fresh_plugins.register_plugin(Plugin(), "cli-recorder")
    _CliRecorder.runs = []
    return _CliRecorder


def _cli_train(tmp_path, cfg):
    from omegaconf import OmegaConf

    from atommic_core.cli import main

    OmegaConf.save(cfg, tmp_path / "run.yaml")
    return main(["train", "--config-path", str(tmp_path), "--config-name", "run",
                 f"exp_manager.exp_dir={tmp_path / 'exp'}"])


def test_cli_train_with_a_scheduler_and_computed_max_steps(tmp_path, cli_recorder, capsys):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(CLI_CONFIG)
    assert _cli_train(tmp_path, cfg) == 0, capsys.readouterr().err[-2000:]
    (got,) = cli_recorder.runs
    assert (got["optimizer"], got["scheduler"]) == ("Novograd", "CosineAnnealing")
    assert got["max_steps"] == got["global_step"] == 6  # 2 epochs x 3 batches, from the trainer
    expected = [0.05 / 2] + [0.001 + 0.049 * 0.5 * (1 + math.cos(math.pi * (t - 1) / 5))
                             for t in range(1, 6)]
    assert got["lrs"] == pytest.approx(expected)


@pytest.mark.slow
def test_every_optimizer_and_every_scheduler_train_through_the_cli(tmp_path, cli_recorder,
                                                                   capsys):
    """In-process ``python -m atommic_core train``: each name used at least once.

    ATOMMIC_TEST_FULL_CLI=1 runs the whole cross product (about a minute) instead.
    """
    from omegaconf import OmegaConf

    optimizers, schedulers = list(AVAILABLE_OPTIMIZERS), AVAILABLE_SCHEDULERS.entries()
    pairs = [(optimizers[i % len(optimizers)], entry) for i, entry in enumerate(schedulers)]
    if os.environ.get("ATOMMIC_TEST_FULL_CLI") == "1":
        pairs = [(o, e) for o in optimizers for e in schedulers]
    for opt_name, entry in pairs:
        cfg = OmegaConf.create(CLI_CONFIG)
        cfg.trainer = {**cfg.trainer, "max_epochs": 1, "max_steps": 3, "logger": False}
        cfg.model.validation_ds = {"num_samples": 4, "batch_size": 4}  # for ReduceLROnPlateau
        cfg.model.optim = {"name": opt_name, "lr": 0.01,
                           "sched": {"name": entry.name, **_required_args(entry.name,
                                                                          entry.params)}}
        code = _cli_train(tmp_path, cfg)
        assert code == 0, f"{opt_name} + {entry.name}: {capsys.readouterr().err[-1500:]}"
    got = [(r["optimizer"], r["scheduler"], r["global_step"]) for r in cli_recorder.runs]
    assert got == [(AVAILABLE_OPTIMIZERS[o].__name__, e.obj.__name__, 3) for o, e in pairs]
    assert {o for o, _ in pairs} == set(optimizers)
