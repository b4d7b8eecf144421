"""Built-in learning-rate schedulers with their params dataclasses.

A params dataclass lists the keyword arguments a ``sched`` config may set. Its class
variable ``INTERVAL`` says how often Lightning steps the scheduler: ``"step"`` (every
optimizer step, the default) or ``"epoch"``. Plugins may set it on their own dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = [
    "CosineAnnealingParams",
    "CyclicLRParams",
    "ExponentialLRParams",
    "InverseSquareRootAnnealingParams",
    "NoamAnnealingParams",
    "PolynomialDecayAnnealingParams",
    "PolynomialHoldDecayAnnealingParams",
    "ReduceLROnPlateauParams",
    "SchedulerParams",
    "SquareAnnealingParams",
    "SquareRootAnnealingParams",
    "StepLRParams",
    "WarmupAnnealingParams",
    "WarmupHoldSchedulerParams",
    "WarmupSchedulerParams",
    "register_builtin_schedulers",
]


@dataclass
class SchedulerParams:
    """Arguments every torch-style scheduler takes."""

    INTERVAL: ClassVar[str] = "step"
    last_epoch: int = -1


@dataclass
class WarmupSchedulerParams(SchedulerParams):
    """Arguments of :class:`WarmupPolicy` (``max_steps=None``: filled in at run time)."""

    max_steps: int | None = None
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    min_lr: float = 0.0


@dataclass
class WarmupHoldSchedulerParams(WarmupSchedulerParams):
    """Arguments of :class:`WarmupHoldPolicy`."""

    hold_steps: int | None = None
    hold_ratio: float | None = None


@dataclass
class SquareAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`SquareAnnealing`."""

    min_lr: float = 1e-5


@dataclass
class SquareRootAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`SquareRootAnnealing`."""


@dataclass
class CosineAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`CosineAnnealing`."""


@dataclass
class NoamAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`NoamAnnealing` (``d_model`` is required)."""

    d_model: int = field(kw_only=True)


@dataclass
class WarmupAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`WarmupAnnealing`."""


@dataclass
class InverseSquareRootAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`InverseSquareRootAnnealing`."""


@dataclass
class PolynomialDecayAnnealingParams(WarmupSchedulerParams):
    """Arguments of :class:`PolynomialDecayAnnealing`."""

    power: float = 1.0
    cycle: bool = False


@dataclass
class PolynomialHoldDecayAnnealingParams(WarmupHoldSchedulerParams):
    """Arguments of :class:`PolynomialHoldDecayAnnealing`."""

    power: float = 1.0
    cycle: bool = False


@dataclass
class StepLRParams(SchedulerParams):
    """Arguments of ``torch.optim.lr_scheduler.StepLR`` (stepped per optimizer step)."""

    step_size: int = field(kw_only=True)
    gamma: float = 0.1


@dataclass
class ExponentialLRParams(SchedulerParams):
    """Arguments of ``torch.optim.lr_scheduler.ExponentialLR`` (stepped per epoch)."""

    INTERVAL: ClassVar[str] = "epoch"
    gamma: float = 0.9


@dataclass
class ReduceLROnPlateauParams:
    """Arguments of ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (per epoch, on ``monitor``)."""

    INTERVAL: ClassVar[str] = "epoch"
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8


@dataclass
class CyclicLRParams(SchedulerParams):
    """Arguments of ``torch.optim.lr_scheduler.CyclicLR``.

    ``cycle_momentum`` defaults to False (torch: True) so that CyclicLR works with every
    optimizer, including those without momentum or betas (Adagrad, Rprop, ...).
    """

    base_lr: float = 0.001
    max_lr: float = 0.1
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: str = "triangular"
    gamma: float = 1.0
    scale_mode: str = "cycle"
    cycle_momentum: bool = False
    base_momentum: float = 0.8
    max_momentum: float = 0.9


_POLICIES = "atommic_core.optim._policies"
_TORCH = "torch.optim.lr_scheduler"


def register_builtin_schedulers(register: Callable) -> None:
    """Register the built-ins as lazy references: listing them never imports torch."""
    register("WarmupPolicy", f"{_POLICIES}:WarmupPolicy", WarmupSchedulerParams)
    register("WarmupHoldPolicy", f"{_POLICIES}:WarmupHoldPolicy", WarmupHoldSchedulerParams)
    register("SquareAnnealing", f"{_POLICIES}:SquareAnnealing", SquareAnnealingParams)
    register("CosineAnnealing", f"{_POLICIES}:CosineAnnealing", CosineAnnealingParams)
    register("NoamAnnealing", f"{_POLICIES}:NoamAnnealing", NoamAnnealingParams)
    register("WarmupAnnealing", f"{_POLICIES}:WarmupAnnealing", WarmupAnnealingParams)
    register("InverseSquareRootAnnealing", f"{_POLICIES}:InverseSquareRootAnnealing",
             InverseSquareRootAnnealingParams)
    register("SquareRootAnnealing", f"{_POLICIES}:SquareRootAnnealing",
             SquareRootAnnealingParams)
    register("PolynomialDecayAnnealing", f"{_POLICIES}:PolynomialDecayAnnealing",
             PolynomialDecayAnnealingParams)
    register("PolynomialHoldDecayAnnealing", f"{_POLICIES}:PolynomialHoldDecayAnnealing",
             PolynomialHoldDecayAnnealingParams)
    register("StepLR", f"{_TORCH}:StepLR", StepLRParams)
    register("ExponentialLR", f"{_TORCH}:ExponentialLR", ExponentialLRParams)
    register("ReduceLROnPlateau", f"{_TORCH}:ReduceLROnPlateau", ReduceLROnPlateauParams)
    register("CyclicLR", f"{_TORCH}:CyclicLR", CyclicLRParams)
