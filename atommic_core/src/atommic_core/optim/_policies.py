"""Warmup / hold / annealing learning-rate policies (the NeMo and ATOMMIC families).

Every policy is a ``torch.optim.lr_scheduler.LRScheduler`` stepped once per optimizer
step; ``step`` below is the scheduler's ``last_epoch`` (0 after construction). Per
parameter group with initial learning rate ``lr0``:

* warmup (``0 < step <= warmup_steps``): ``lr0 * (step + 1) / (warmup_steps + 1)``
* hold (``warmup_steps <= step < warmup_steps + hold_steps``, hold policies only): ``lr0``
* after ``max_steps``: ``min_lr``
* otherwise the policy's own decay, written ``_get_lr(step)``.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from atommic_core.errors import ConfigError

__all__ = [
    "CosineAnnealing",
    "InverseSquareRootAnnealing",
    "NoamAnnealing",
    "PolynomialDecayAnnealing",
    "PolynomialHoldDecayAnnealing",
    "SquareAnnealing",
    "SquareRootAnnealing",
    "WarmupAnnealing",
    "WarmupHoldPolicy",
    "WarmupPolicy",
]


def _steps_from(kind: str, steps: int | None, ratio: float | None, max_steps: int | None) -> int:
    """``steps`` or ``int(ratio * max_steps)``; both set, or a ratio without max_steps, fails."""
    if steps is not None and ratio is not None:
        raise ConfigError(f"sched: set {kind}_steps or {kind}_ratio, not both (found "
                          f"{kind}_steps={steps}, {kind}_ratio={ratio}); hint: delete one")
    if ratio is not None and not 0 <= ratio <= 1:
        raise ConfigError(f"sched: expected 0 <= {kind}_ratio <= 1; found {ratio}")
    if steps is not None and steps < 0:
        raise ConfigError(f"sched: expected {kind}_steps >= 0; found {steps}")
    if ratio is not None:
        if max_steps is None:
            raise ConfigError(f"sched: {kind}_ratio={ratio} needs max_steps; found None")
        return int(ratio * max_steps)
    return int(steps or 0)


def _require_max_steps(name: str, max_steps: int | None) -> int:
    if max_steps is None or max_steps <= 0:
        raise ConfigError(f"{name} needs max_steps > 0; found {max_steps}. Hint: set "
                          "model.optim.sched.max_steps or train with a Trainer (-1 = computed)")
    return int(max_steps)


def _poly_decay(lr0: float, step: int, decay_steps: int, power: float, min_lr: float,
                cycle: bool) -> float:
    """Polynomial decay from ``lr0`` to ``min_lr`` over ``decay_steps`` (optionally cyclic)."""
    if decay_steps <= 0:  # no room left to decay (e.g. hold ends at max_steps)
        return min_lr
    if cycle:
        decay_steps = decay_steps * (1 if step == 0 else math.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (lr0 - min_lr) * (1.0 - step / decay_steps) ** power + min_lr


class WarmupPolicy(LRScheduler):
    """Linear warmup, then the constant initial learning rate; ``min_lr`` after ``max_steps``.

    The base class of the policies below; a subclass overrides :meth:`_get_lr`.

    Args:
        optimizer: The wrapped optimizer.
        warmup_steps: Number of warmup steps (exclusive with ``warmup_ratio``).
        warmup_ratio: Warmup length as a fraction of ``max_steps``.
        max_steps: Total number of optimizer steps (``None`` = never switch to ``min_lr``).
        min_lr: Learning rate after ``max_steps`` (and floor of the decaying policies).
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.

    Raises:
        ConfigError: If both ``warmup_steps`` and ``warmup_ratio`` are set, a ratio is
            outside [0, 1], or a step count or ``min_lr`` is negative.
    """

    def __init__(self, optimizer: Optimizer, *, warmup_steps: int | None = None,
                 warmup_ratio: float | None = None, max_steps: int | None = None,
                 min_lr: float = 0.0, last_epoch: int = -1) -> None:
        self.max_steps = max_steps
        self.warmup_steps = _steps_from("warmup", warmup_steps, warmup_ratio, max_steps)
        if min_lr < 0:
            raise ConfigError(f"sched: expected min_lr >= 0; found {min_lr}")
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    @property
    def _decay_start(self) -> int:
        """Step at which :meth:`_get_lr` takes over: the end of warmup (or of the hold)."""
        return self.warmup_steps

    def get_lr(self) -> list[float]:
        """Learning rate of every parameter group at step ``last_epoch``."""
        step = self.last_epoch
        if 0 < self.warmup_steps and step <= self.warmup_steps:
            return self._get_warmup_lr(step)
        if step < self._decay_start:  # hold phase; empty unless a WarmupHoldPolicy
            return list(self.base_lrs)
        if self.max_steps is not None and step > self.max_steps:
            return [self.min_lr for _ in self.base_lrs]
        return self._get_lr(step)

    def _get_warmup_lr(self, step: int) -> list[float]:
        scale = (step + 1) / (self.warmup_steps + 1)
        return [lr0 * scale for lr0 in self.base_lrs]

    def _get_lr(self, step: int) -> list[float]:
        return list(self.base_lrs)


class WarmupHoldPolicy(WarmupPolicy):
    """Linear warmup, hold the initial learning rate, then the subclass's decay.

    Args:
        optimizer: The wrapped optimizer.
        warmup_steps: Number of warmup steps (exclusive with ``warmup_ratio``).
        warmup_ratio: Warmup length as a fraction of ``max_steps``.
        hold_steps: Steps to hold ``lr0`` after warmup (exclusive with ``hold_ratio``).
        hold_ratio: Hold length as a fraction of ``max_steps``.
        max_steps: Total number of optimizer steps.
        min_lr: Learning rate after ``max_steps`` (and floor of the decay).
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.

    Attributes:
        hold_steps: The step at which holding ends (``warmup_steps`` + hold length).
    """

    def __init__(self, optimizer: Optimizer, *, warmup_steps: int | None = None,
                 warmup_ratio: float | None = None, hold_steps: int | None = None,
                 hold_ratio: float | None = None, max_steps: int | None = None,
                 min_lr: float = 0.0, last_epoch: int = -1) -> None:
        warmup = _steps_from("warmup", warmup_steps, warmup_ratio, max_steps)
        self.hold_steps = warmup + _steps_from("hold", hold_steps, hold_ratio, max_steps)
        super().__init__(optimizer, warmup_steps=warmup, max_steps=max_steps, min_lr=min_lr,
                         last_epoch=last_epoch)

    @property
    def _decay_start(self) -> int:
        return self.hold_steps


class SquareAnnealing(WarmupPolicy):
    """Warmup, then ``max(lr0 * (1 - s / D) ** 2, min_lr)``.

    ``s = step - warmup_steps`` and ``D = max_steps - warmup_steps``; ``min_lr`` defaults
    to ``1e-5``.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps (required).
        min_lr: Floor of the decay and the learning rate after ``max_steps``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.
    """

    def __init__(self, optimizer: Optimizer, *, max_steps: int, min_lr: float = 1e-5,
                 last_epoch: int = -1, **kwargs: float | None) -> None:
        _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        span = self.max_steps - self.warmup_steps
        mult = ((span - (step - self.warmup_steps)) / span) ** 2
        return [max(lr0 * mult, self.min_lr) for lr0 in self.base_lrs]


class SquareRootAnnealing(WarmupPolicy):
    """Warmup, then ``max(lr0 * sqrt((max_steps - step) / max_steps), min_lr)``.

    As in NeMo/ATOMMIC the decay is measured from step 0, not from the end of warmup.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps (required).
        min_lr: Floor of the decay and the learning rate after ``max_steps``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.
    """

    def __init__(self, optimizer: Optimizer, *, max_steps: int, min_lr: float = 0.0,
                 last_epoch: int = -1, **kwargs: float | None) -> None:
        _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        mult = ((self.max_steps - step) / self.max_steps) ** 0.5
        return [max(lr0 * mult, self.min_lr) for lr0 in self.base_lrs]


class CosineAnnealing(WarmupPolicy):
    """Warmup, then ``min_lr + (lr0 - min_lr) * (1 + cos(pi * s / D)) / 2``.

    ``s = step - warmup_steps`` and ``D = max_steps - warmup_steps``.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps (required).
        min_lr: Floor of the decay and the learning rate after ``max_steps``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.

    Raises:
        ConfigError: If a group's initial learning rate is below ``min_lr``.
    """

    def __init__(self, optimizer: Optimizer, *, max_steps: int, min_lr: float = 0.0,
                 last_epoch: int = -1, **kwargs: float | None) -> None:
        _require_max_steps(type(self).__name__, max_steps)
        low = [g["lr"] for g in optimizer.param_groups if g["lr"] < min_lr]
        if low:
            raise ConfigError(f"CosineAnnealing: initial lr {low[0]} is below min_lr {min_lr}; "
                              "hint: lower sched.min_lr")
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        progress = (step - self.warmup_steps) / (self.max_steps - self.warmup_steps)
        mult = 0.5 * (1.0 + math.cos(math.pi * progress))
        return [self.min_lr + (lr0 - self.min_lr) * mult for lr0 in self.base_lrs]


class NoamAnnealing(WarmupPolicy):
    """The Transformer schedule (Vaswani et al., 2017) scaled by the initial learning rate.

    ``lr = lr0 * d_model ** -0.5 * min(t ** -0.5, t * warmup_steps ** -1.5)`` with
    ``t = max(1, step)`` (just ``t ** -0.5`` without warmup), floored at ``min_lr`` after
    warmup and equal to ``min_lr`` after ``max_steps`` (if given).

    Args:
        optimizer: The wrapped optimizer.
        d_model: Model width that normalises the schedule.
        warmup_steps: Number of warmup steps (exclusive with ``warmup_ratio``).
        warmup_ratio: Warmup length as a fraction of ``max_steps``.
        max_steps: Total number of optimizer steps (optional).
        min_lr: Floor after warmup.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
    """

    def __init__(self, optimizer: Optimizer, *, d_model: int, warmup_steps: int | None = None,
                 warmup_ratio: float | None = None, max_steps: int | None = None,
                 min_lr: float = 0.0, last_epoch: int = -1) -> None:
        if d_model <= 0:
            raise ConfigError(f"NoamAnnealing: d_model must be > 0; found {d_model}")
        self.d_model = d_model
        super().__init__(optimizer, warmup_steps=warmup_steps, warmup_ratio=warmup_ratio,
                         max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch)

    def get_lr(self) -> list[float]:
        """Learning rate of every parameter group at step ``last_epoch``."""
        t = max(1, self.last_epoch)
        if self.max_steps is not None and t > self.max_steps:
            return [self.min_lr for _ in self.base_lrs]
        decay = t ** -0.5
        if self.warmup_steps > 0:
            decay = min(decay, t * self.warmup_steps ** -1.5)
        mult = self.d_model ** -0.5 * decay
        floor = self.min_lr if t > self.warmup_steps else 0.0
        return [max(lr0 * mult, floor) for lr0 in self.base_lrs]


class WarmupAnnealing(WarmupPolicy):
    """Warmup, then linear decay ``min_lr + (lr0 - min_lr) * (1 - s / D)``.

    ``s = step - warmup_steps`` and ``D = max_steps - warmup_steps``.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps (required).
        min_lr: Floor of the decay and the learning rate after ``max_steps``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.
    """

    def __init__(self, optimizer: Optimizer, *, max_steps: int, min_lr: float = 0.0,
                 last_epoch: int = -1, **kwargs: float | None) -> None:
        _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        frac = (step - self.warmup_steps) / (self.max_steps - self.warmup_steps)
        return [self.min_lr + (lr0 - self.min_lr) * (1.0 - frac) for lr0 in self.base_lrs]


class InverseSquareRootAnnealing(WarmupPolicy):
    """Warmup, then ``max(lr0 / sqrt((step + 1) / (warmup_steps + 1)), min_lr)``.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps (required).
        min_lr: Floor of the decay and the learning rate after ``max_steps``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.
    """

    def __init__(self, optimizer: Optimizer, *, max_steps: int, min_lr: float = 0.0,
                 last_epoch: int = -1, **kwargs: float | None) -> None:
        _require_max_steps(type(self).__name__, max_steps)
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        denom = ((step + 1) / (self.warmup_steps + 1)) ** 0.5
        return [max(lr0 / denom, self.min_lr) for lr0 in self.base_lrs]


class PolynomialDecayAnnealing(WarmupPolicy):
    """Warmup, then ``(lr0 - min_lr) * (1 - s / D) ** power + min_lr``.

    ``s = step - warmup_steps``, ``D = max_steps - warmup_steps``; with ``cycle`` the
    decay restarts from a ``D`` stretched to the next multiple covering ``s``.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps.
        min_lr: Final learning rate.
        power: Exponent of the polynomial (1 = linear).
        cycle: Stretch the decay period instead of stopping at ``min_lr``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.
    """

    def __init__(self, optimizer: Optimizer, *, max_steps: int, min_lr: float = 0.0,
                 power: float = 1.0, cycle: bool = False, last_epoch: int = -1,
                 **kwargs: float | None) -> None:
        _require_max_steps(type(self).__name__, max_steps)
        self.power = power
        self.cycle = cycle
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        start = self._decay_start
        return [_poly_decay(lr0, step - start, self.max_steps - start, self.power, self.min_lr,
                            self.cycle) for lr0 in self.base_lrs]


# The MRO puts WarmupHoldPolicy after PolynomialDecayAnnealing: the latter's super().__init__
# takes the hold arguments there, and its _get_lr decays from WarmupHoldPolicy._decay_start.
class PolynomialHoldDecayAnnealing(PolynomialDecayAnnealing, WarmupHoldPolicy):
    """Warmup, hold, then polynomial decay from the end of the hold to ``max_steps``.

    ``lr = (lr0 - min_lr) * (1 - s / D) ** power + min_lr`` with ``s = step - hold_end`` and
    ``D = max_steps - hold_end`` (``hold_end = warmup_steps + hold_steps``).

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total number of optimizer steps.
        min_lr: Final learning rate.
        power: Exponent of the polynomial (1 = linear).
        cycle: Stretch the decay period instead of stopping at ``min_lr``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps``/``warmup_ratio`` and ``hold_steps``/``hold_ratio``.
    """
