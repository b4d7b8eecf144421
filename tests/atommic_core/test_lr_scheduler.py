"""Learning-rate schedulers: each curve against its formula, and the ``sched`` builder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from atommic_core.errors import ConfigError, PluginError, UnknownNameError
from atommic_core.optim import build_optimization
from atommic_core.optim._policies import _poly_decay
from atommic_core.optim.lr_scheduler import (
    AVAILABLE_SCHEDULERS,
    WarmupPolicy,
    get_scheduler,
    prepare_lr_scheduler,
    register_scheduler,
)

LRS = (0.1, 0.02)  # two parameter groups: every policy scales each group's own lr
M, W, H, MIN = 20, 4, 3, 0.001


def _optimizer(lrs=LRS):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _curve(name, steps, metrics=None, **kwargs):
    """lr of each group used at optimizer steps 0..steps-1."""
    opt = _optimizer()
    sched = prepare_lr_scheduler(opt, {"name": name, **kwargs})["scheduler"]
    values = []
    for t in range(steps):
        values.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step(metrics[t]) if metrics else sched.step()
    return values


def _warm(lr0, t):
    return lr0 * (t + 1) / (W + 1) if t <= W else None


def _policy(decay):
    """Expected lr: warmup, then ``decay(lr0, t)``, then min_lr after M."""
    def lr(lr0, t):
        if _warm(lr0, t) is not None:
            return _warm(lr0, t)
        return MIN if t > M else decay(lr0, t)
    return lr


def _noam(lr0, t):
    t = max(1, t)
    if t > M:
        return MIN
    value = lr0 * 16 ** -0.5 * min(t ** -0.5, t * W ** -1.5)
    return max(value, MIN) if t > W else value


def _hold_poly(lr0, t):
    if _warm(lr0, t) is not None:
        return _warm(lr0, t)
    if t < W + H:
        return lr0
    return MIN if t > M else (lr0 - MIN) * (1 - (t - W - H) / (M - W - H)) ** 2 + MIN


def _hold(lr0, t):
    if _warm(lr0, t) is not None:
        return _warm(lr0, t)
    return MIN if t > M else lr0


POLICIES = {
    "WarmupPolicy": ({}, _policy(lambda lr0, t: lr0)),
    "WarmupHoldPolicy": ({"hold_steps": H}, _hold),
    "SquareAnnealing": ({}, _policy(lambda lr0, t: max(lr0 * ((M - t) / (M - W)) ** 2, MIN))),
    "CosineAnnealing": ({}, _policy(
        lambda lr0, t: MIN + (lr0 - MIN) * 0.5 * (1 + math.cos(math.pi * (t - W) / (M - W))))),
    "NoamAnnealing": ({"d_model": 16}, _noam),
    "WarmupAnnealing": ({}, _policy(lambda lr0, t: MIN + (lr0 - MIN) * (M - t) / (M - W))),
    "InverseSquareRootAnnealing": ({}, _policy(
        lambda lr0, t: max(lr0 * math.sqrt((W + 1) / (t + 1)), MIN))),
    "SquareRootAnnealing": ({}, _policy(lambda lr0, t: max(lr0 * math.sqrt((M - t) / M), MIN))),
    "PolynomialDecayAnnealing": ({"power": 2.0}, _policy(
        lambda lr0, t: (lr0 - MIN) * (1 - (t - W) / (M - W)) ** 2 + MIN)),
    "PolynomialHoldDecayAnnealing": ({"power": 2.0, "hold_steps": H}, _hold_poly),
}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policy_curve_matches_formula(name):
    extra, formula = POLICIES[name]
    got = _curve(name, M + 4, max_steps=M, warmup_steps=W, min_lr=MIN, **extra)
    for t, lrs in enumerate(got):
        assert lrs == pytest.approx([formula(lr0, t) for lr0 in LRS], rel=1e-9), f"step {t}"


def test_step_lr_curve():
    got = _curve("StepLR", 10, step_size=3, gamma=0.5)
    assert got == [pytest.approx([lr0 * 0.5 ** (t // 3) for lr0 in LRS]) for t in range(10)]


def test_exponential_lr_curve():
    got = _curve("ExponentialLR", 5, gamma=0.8)
    assert got == [pytest.approx([lr0 * 0.8 ** t for lr0 in LRS]) for t in range(5)]


def test_cyclic_lr_curve():
    def triangular(t, low=0.01, high=0.05, half=4):
        x = abs(t / half - 2 * math.floor(1 + t / (2 * half)) + 1)
        return low + (high - low) * max(0.0, 1 - x)

    got = _curve("CyclicLR", 17, base_lr=0.01, max_lr=0.05, step_size_up=4)
    assert got == [pytest.approx([triangular(t)] * 2) for t in range(17)]


def test_reduce_on_plateau_curve():
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.5]
    got = _curve("ReduceLROnPlateau", 7, metrics=metrics, factor=0.5, patience=1)
    # no improvement for more than `patience` epochs halves the lr (after 0.96 and 0.98)
    halvings = [0, 0, 0, 0, 1, 1, 2]
    assert got == [pytest.approx([lr0 * 0.5 ** h for lr0 in LRS]) for h in halvings]


def test_poly_decay_cycle_stretches_the_period():
    assert _poly_decay(1.0, 15, 10, 1.0, 0.0, cycle=True) == pytest.approx(1 - 15 / 20)
    assert _poly_decay(1.0, 15, 10, 1.0, 0.0, cycle=False) == 0.0


def test_warmup_ratio_and_hold_ratio_are_fractions_of_max_steps():
    opt = _optimizer()
    sched = prepare_lr_scheduler(opt, {"name": "PolynomialHoldDecayAnnealing", "max_steps": 20,
                                       "warmup_ratio": 0.25, "hold_ratio": 0.1})["scheduler"]
    assert (sched.warmup_steps, sched.hold_steps) == (5, 7)


@pytest.mark.parametrize("kind", ["warmup", "hold"])
def test_steps_and_ratio_together_is_an_error(kind):
    cfg = {"name": "WarmupHoldPolicy", "max_steps": 10, f"{kind}_steps": 2, f"{kind}_ratio": 0.1}
    with pytest.raises(ConfigError, match=f"{kind}_steps or {kind}_ratio, not both"):
        prepare_lr_scheduler(_optimizer(), cfg)


def test_unknown_argument_names_the_valid_ones():
    with pytest.raises(ConfigError, match=r"'warmup_steps'.*valid arguments: last_epoch, "
                                          r"step_size, gamma"):
        prepare_lr_scheduler(_optimizer(), {"name": "StepLR", "step_size": 2, "warmup_steps": 3})


def test_missing_required_argument():
    with pytest.raises(ConfigError, match=r"needs d_model.*model\.optim\.sched\.d_model"):
        prepare_lr_scheduler(_optimizer(), {"name": "NoamAnnealing", "max_steps": 10})


def test_missing_or_unknown_name():
    with pytest.raises(ConfigError, match="needs a name"):
        prepare_lr_scheduler(_optimizer(), {"max_steps": 10})
    with pytest.raises(UnknownNameError, match="CosineAnnealing"):
        prepare_lr_scheduler(_optimizer(), {"name": "CosineAnealing"})


def test_computed_max_steps_needs_a_trainer():
    for max_steps in (-1, None):
        with pytest.raises(ConfigError, match="no trainer"):
            prepare_lr_scheduler(_optimizer(), {"name": "CosineAnnealing", "max_steps": max_steps})


def test_cosine_rejects_min_lr_above_lr():
    with pytest.raises(ConfigError, match="below min_lr"):
        prepare_lr_scheduler(_optimizer(), {"name": "CosineAnnealing", "max_steps": 5,
                                            "min_lr": 0.5})


def test_interval_monitor_and_plateau_flags():
    def build(**cfg):
        return prepare_lr_scheduler(_optimizer(), cfg)

    assert build(name="CosineAnnealing", max_steps=5)["interval"] == "step"
    assert build(name="StepLR", step_size=1)["interval"] == "step"
    assert build(name="CyclicLR")["interval"] == "step"
    exp = build(name="ExponentialLR", monitor="val_ssim")
    assert (exp["interval"], exp["reduce_on_plateau"], exp["monitor"]) == ("epoch", False,
                                                                           "val_ssim")
    plateau = build(name="ReduceLROnPlateau", last_epoch=-1)
    assert (plateau["interval"], plateau["reduce_on_plateau"], plateau["monitor"]) == (
        "epoch", True, "val_loss")
    assert build(name="ExponentialLR", interval="step")["interval"] == "step"
    with pytest.raises(ConfigError, match="'step' or 'epoch'"):
        build(name="ExponentialLR", interval="batch")
    with pytest.raises(ConfigError, match="last_epoch=3"):
        build(name="ReduceLROnPlateau", last_epoch=3)


def test_last_epoch_continues_the_schedule():
    cfg = {"name": "CosineAnnealing", "max_steps": M, "warmup_steps": W, "min_lr": MIN}
    fresh = _curve(**cfg, steps=12)
    opt = _optimizer()
    prepare_lr_scheduler(opt, {**cfg, "last_epoch": 8})
    assert [g["lr"] for g in opt.param_groups] == pytest.approx(fresh[9])


def test_build_optimization_without_sched_is_constant_lr():
    model = torch.nn.Linear(2, 1)
    for cfg in ({"name": "adam", "lr": 0.01}, {"name": "adam", "lr": 0.01, "sched": None}):
        out = build_optimization(model, cfg)
        assert isinstance(out, torch.optim.Adam)
    with pytest.raises(ConfigError, match="needs a name"):
        build_optimization(model, {"lr": 0.1})


def test_build_optimization_with_sched_and_dictconfig():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"name": "sgd", "lr": 0.1, "momentum": 0.9,
                            "sched": {"name": "WarmupAnnealing", "max_steps": 10,
                                      "warmup_steps": 2}})
    out = build_optimization(torch.nn.Linear(2, 1), cfg)
    assert out["optimizer"].param_groups[0]["momentum"] == 0.9
    assert out["lr_scheduler"]["scheduler"].optimizer is out["optimizer"]
    assert out["optimizer"].param_groups[0]["lr"] == pytest.approx(0.1 / 3)


def test_register_scheduler_at_run_time(monkeypatch):
    monkeypatch.setattr(AVAILABLE_SCHEDULERS, "_runtime", {})
    AVAILABLE_SCHEDULERS.reset()
    try:
        @dataclass
        class HalfParams:
            max_steps: int | None = None

        class Half(WarmupPolicy):
            def _get_lr(self, step):
                return [lr0 / 2 for lr0 in self.base_lrs]

        register_scheduler("Half", Half, HalfParams)
        got = _curve("Half", 3, max_steps=5)
        assert got[1] == pytest.approx([lr0 / 2 for lr0 in LRS])
        assert get_scheduler("Half").keywords == {"max_steps": None}
        with pytest.raises(PluginError, match="registered twice"):
            register_scheduler("Half", Half, HalfParams)
    finally:
        monkeypatch.undo()
        AVAILABLE_SCHEDULERS.reset()
