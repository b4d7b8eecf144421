"""freeze_updates: frozen modules keep their weights step by step in a real Trainer.fit."""

from __future__ import annotations

import logging

import pytest
import pytorch_lightning as pl
import torch

from atommic_core import FreezeUpdates
from atommic_core.errors import ConfigError
from atommic_core.model.freezing import parse_freeze_spec
from atommic_core.testing import NestedBoringModel

STEPS = 6
MODULES = ["child.encoder.0", "child.head", "scale"]
OPTIMIZERS = {
    "sgd": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.1},
    "adamw": {"name": "adamw", "lr": 0.05, "weight_decay": 0.5},
    "lion": {"name": "lion", "lr": 0.01, "weight_decay": 0.5},
}


class WeightRecorder(pl.Callback):
    """Snapshots of every module's parameters before each step and after the last one."""

    def __init__(self) -> None:
        self.snapshots: list[dict[str, list[torch.Tensor]]] = []
        self.training_flags: list[bool] = []

    def _take(self, pl_module) -> None:
        self.module = pl_module
        self.snapshots.append({name: [p.detach().clone() for p in
                                      pl_module.get_submodule(name).parameters()]
                               for name in MODULES})

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._take(pl_module)
        self.training_flags.append(all(m.training for m in pl_module.modules()))

    def on_train_end(self, trainer, pl_module) -> None:
        self._take(pl_module)

    def changed(self, name: str, step: int) -> bool:
        """Did ``name`` change during 1-based ``step``?"""
        before, after = self.snapshots[step - 1][name], self.snapshots[step][name]
        return any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def _fit(modules: dict, optim: dict, tmp_path,
         recorder: WeightRecorder | None = None) -> tuple[NestedBoringModel, WeightRecorder]:
    torch.manual_seed(0)
    model = NestedBoringModel({
        "child_model": {"target": "atommic_core.testing.BoringModel", "hidden": 6},
        "train_ds": {"num_samples": 4 * STEPS, "batch_size": 4, "shuffle": False},
        "optim": optim,
        "freeze_updates": {"enabled": True, "modules": modules},
    })
    recorder = recorder or WeightRecorder()
    trainer = pl.Trainer(max_steps=STEPS, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", callbacks=[recorder], default_root_dir=tmp_path,
                         limit_val_batches=0)
    trainer.fit(model)
    return model, recorder


def _expected(spec, step: int) -> bool:
    first, last = parse_freeze_spec("m", spec)
    return first <= step and (last is None or step <= last)


@pytest.mark.parametrize("optim", sorted(OPTIMIZERS))
@pytest.mark.parametrize("modules", [
    {"child.encoder.0": 2, "child.head": [3, 4], "scale": [5, -1]},  # N, [a, b], [a, -1]
    {"child": -1},  # whole run, a ModelPT child
    {"child.encoder": [2, 4], "child.encoder.0": 3},  # overlapping, plain nn.Modules
], ids=["N-ab-a_end", "whole-run", "overlap"])
def test_frozen_modules_do_not_change(tmp_path, optim, modules):
    model, rec = _fit(modules, OPTIMIZERS[optim], tmp_path)
    assert len(rec.snapshots) == STEPS + 1
    assert all(rec.training_flags), "frozen modules must stay in train mode"
    for name in MODULES:
        for step in range(1, STEPS + 1):
            frozen = any(_expected(spec, step) for key, spec in modules.items()
                         if name == key or name.startswith(key + "."))
            assert rec.changed(name, step) != frozen, (
                f"{name} at step {step}: expected {'frozen' if frozen else 'trained'}")
    assert all(p.requires_grad for p in model.parameters()), "fit() must end unfrozen"


def test_freeze_and_unfreeze_are_logged_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="atommic_core.model.freezing")
    _fit({"child.head": [2, 3], "scale": -1}, OPTIMIZERS["sgd"], tmp_path)
    lines = [r.getMessage() for r in caplog.records if "freeze_updates" in r.getMessage()]
    assert lines == [
        "freeze_updates: step 1: froze 'scale' until the end of training",
        "freeze_updates: step 2: froze 'child.head' until step 3",
        "freeze_updates: step 4: unfroze 'child.head'",
    ]


def test_unknown_module_fails_before_the_first_step(tmp_path):
    recorder = WeightRecorder()
    with pytest.raises(ConfigError, match=r"has no module 'child.decoder'; its modules are: "
                                          r"child, child.encoder, child.encoder.0"):
        _fit({"child.decoder": 2}, OPTIMIZERS["sgd"], tmp_path, recorder)
    assert recorder.snapshots == []  # no training batch started


def test_disabled_adds_no_callback():
    model = NestedBoringModel({"child_model": {"target": "atommic_core.testing.BoringModel"},
                               "freeze_updates": {"enabled": False, "modules": {"scale": -1}}})
    assert not any(isinstance(cb, FreezeUpdates) for cb in model.configure_callbacks())
    model.cfg.freeze_updates.enabled = True
    (callback,) = [cb for cb in model.configure_callbacks() if isinstance(cb, FreezeUpdates)]
    assert callback.windows == {"scale": (1, None)}


@pytest.mark.parametrize("spec, window", [
    (5, (1, 5)), (-1, (1, None)), (0, (1, 0)), ([2, 7], (2, 7)), ([3, -1], (3, None)),
    ((4, 4), (4, 4)),
])
def test_parse_freeze_spec(spec, window):
    assert parse_freeze_spec("m", spec) == window


@pytest.mark.parametrize("spec", [-2, [5, 2], [1, 2, 3], "10", True, [1.5, 2], [-3, 4]])
def test_bad_specs_are_refused(spec):
    with pytest.raises(ConfigError, match=r"freeze_updates.modules.m: expected .* found"):
        parse_freeze_spec("m", spec)


def test_state_dict_round_trip_keeps_announcements():
    cb = FreezeUpdates({"scale": -1})
    cb.frozen = {"scale"}
    fresh = FreezeUpdates({"scale": -1})
    fresh.load_state_dict(cb.state_dict())
    assert fresh._logged == {"scale"}
    assert cb.state_key == fresh.state_key != FreezeUpdates({"scale": 2}).state_key


class DecayEverything(torch.optim.Optimizer):
    """A careless optimizer: decays every parameter, even those without a gradient."""

    def __init__(self, params, lr: float = 0.1) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                p.mul_(0.9)
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
        return loss


def test_frozen_even_with_an_optimizer_that_ignores_gradients(tmp_path, monkeypatch):
    monkeypatch.setattr(NestedBoringModel, "configure_optimizers",
                        lambda self: DecayEverything(self.parameters()))
    _, rec = _fit({"scale": [2, 3]}, OPTIMIZERS["sgd"], tmp_path)
    assert [rec.changed("scale", s) for s in range(1, STEPS + 1)] == [
        True, False, False, True, True, True]
    assert all(rec.changed("child.head", s) for s in range(1, STEPS + 1))


class ManualNested(NestedBoringModel):
    """Manual optimization: the model calls optimizer.step() itself."""

    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(self._loss(batch))
        opt.step()


def test_frozen_under_manual_optimization(tmp_path):
    torch.manual_seed(0)
    model = ManualNested({
        "child_model": {"target": "atommic_core.testing.BoringModel", "hidden": 6},
        "train_ds": {"num_samples": 4 * STEPS, "batch_size": 4, "shuffle": False},
        "optim": OPTIMIZERS["sgd"],
        "freeze_updates": {"enabled": True, "modules": {"child.head": [2, 3]}},
    })
    rec = WeightRecorder()
    pl.Trainer(max_steps=STEPS, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
               callbacks=[rec], default_root_dir=tmp_path, limit_val_batches=0).fit(model)
    assert [rec.changed("child.head", s) for s in range(1, STEPS + 1)] == [
        True, False, False, True, True, True]
    assert all(rec.changed("scale", s) for s in range(1, STEPS + 1))


def test_a_failed_fit_leaves_the_model_unfrozen(tmp_path, monkeypatch):
    def explode(self, batch, batch_idx):
        if self.trainer.global_step == 2:
            raise RuntimeError("boom")
        return NestedBoringModel._loss(self, batch)

    monkeypatch.setattr(NestedBoringModel, "training_step", explode)
    rec = WeightRecorder()
    with pytest.raises(RuntimeError, match="boom"):
        _fit({"child": -1}, OPTIMIZERS["sgd"], tmp_path, rec)
    assert all(p.requires_grad for p in rec.module.parameters())
