"""An example third-party atommic plugin: the LAMB optimizer and a cosine-restarts scheduler.

Installed, it makes two names usable in any atommic config::

    model:
      optim:
        name: lamb                     # You et al. 2020
        lr: 0.01
        weight_decay: 0.01
        sched:
          name: WarmupCosineRestarts   # Loshchilov & Hutter 2017, with linear warmup
          warmup_ratio: 0.05
          num_cycles: 3

The plugin is this module, the thin entry module :mod:`atommic_example_plugin.plugin` (lazy
references to the classes here) and ``[project.entry-points.atommic]`` in pyproject.toml.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from atommic_core.optim.lr_scheduler import WarmupPolicy

__all__ = ["Lamb", "LambParams", "WarmupCosineRestarts", "WarmupCosineRestartsParams"]


class Lamb(torch.optim.Optimizer):
    """LAMB: Adam with a layer-wise trust ratio (You et al., ICLR 2020, arXiv:1904.00962).

    For each parameter tensor ``w`` with gradient ``g`` at step ``t``::

        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        r = m_hat / (sqrt(v_hat) + eps)    (m_hat, v_hat bias-corrected if requested)
        u = r + weight_decay * w
        w = w - lr * (||w|| / ||u||) * u   (ratio 1 if either norm is 0, <= max_trust_ratio)

    Args:
        params: Parameters or parameter-group dicts (real tensors of any shape).
        lr: Learning rate.
        betas: Decay of the first and second moments.
        eps: Added to ``sqrt(v_hat)``.
        weight_decay: Decoupled weight decay, scaled by the trust ratio like the update.
        bias_correction: Divide the moments by ``1 - beta ** t``.
        max_trust_ratio: Upper bound of the trust ratio (``None``: unbounded).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.01, bias_correction: bool = True,
                 max_trust_ratio: float | None = 10.0) -> None:
        if lr < 0.0 or eps < 0.0 or weight_decay < 0.0:
            raise ValueError(f"Lamb: lr, eps and weight_decay must be >= 0, found {lr}, {eps}, "
                             f"{weight_decay}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Lamb: betas must be two values in [0, 1), found {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, bias_correction=bias_correction,
                                      max_trust_ratio=max_trust_ratio))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one optimisation step; ``closure`` re-evaluates the loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group)
        return loss

    def _update(self, p: torch.Tensor, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        state = self.state[p]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
        m_hat, v_hat = m, v
        if group["bias_correction"]:
            m_hat = m / (1.0 - beta1 ** state["step"])
            v_hat = v / (1.0 - beta2 ** state["step"])
        update = m_hat / (v_hat.sqrt() + group["eps"])
        if group["weight_decay"] != 0.0:
            update = update.add(p, alpha=group["weight_decay"])
        w_norm, u_norm = p.norm(), update.norm()
        ratio = 1.0
        if w_norm > 0 and u_norm > 0:
            ratio = float(w_norm / u_norm)
            if group["max_trust_ratio"] is not None:
                ratio = min(ratio, group["max_trust_ratio"])
        p.add_(update, alpha=-group["lr"] * ratio)


@dataclass
class LambParams:
    """Arguments of :class:`Lamb` (``lr`` is required)."""

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    weight_decay: float = 0.01
    bias_correction: bool = True
    max_trust_ratio: float | None = 10.0


class WarmupCosineRestarts(WarmupPolicy):
    """Linear warmup, then ``num_cycles`` cosine cycles (SGDR, Loshchilov & Hutter, ICLR 2017).

    The cycles fill ``max_steps - warmup_steps``; cycle ``k`` is ``cycle_mult ** k`` times
    as long as the first and starts from ``lr0 * restart_decay ** k``. Within a cycle of
    length ``L`` at position ``s``: ``min_lr + (peak - min_lr) * (1 + cos(pi * s / L)) / 2``.

    Args:
        optimizer: The wrapped optimizer.
        max_steps: Total optimizer steps (atommic fills it in at run time when -1).
        num_cycles: Number of cosine cycles after warmup.
        cycle_mult: Length ratio of consecutive cycles.
        restart_decay: Peak ratio of consecutive cycles.
        min_lr: Bottom of every cycle, and the lr after ``max_steps``.
        last_epoch: Index of the last step done; ``-1`` starts a new schedule.
        **kwargs: ``warmup_steps`` or ``warmup_ratio``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, max_steps: int,
                 num_cycles: int = 3, cycle_mult: float = 1.0, restart_decay: float = 1.0,
                 min_lr: float = 0.0, last_epoch: int = -1, **kwargs: Any) -> None:
        if num_cycles < 1 or cycle_mult <= 0:
            raise ValueError(f"WarmupCosineRestarts: need num_cycles >= 1 and cycle_mult > 0, "
                             f"found {num_cycles}, {cycle_mult}")
        self.num_cycles, self.cycle_mult, self.restart_decay = num_cycles, cycle_mult, restart_decay
        super().__init__(optimizer, max_steps=max_steps, min_lr=min_lr, last_epoch=last_epoch,
                         **kwargs)

    def _get_lr(self, step: int) -> list[float]:
        total = self.max_steps - self.warmup_steps
        first = total / sum(self.cycle_mult ** k for k in range(self.num_cycles))
        pos, k, length = float(step - self.warmup_steps), 0, first
        while pos >= length and k < self.num_cycles - 1:  # a restart starts at the peak
            pos, k, length = pos - length, k + 1, length * self.cycle_mult
        mult = 0.5 * (1.0 + math.cos(math.pi * min(pos / length, 1.0)))
        return [self.min_lr + (lr0 * self.restart_decay ** k - self.min_lr) * mult
                for lr0 in self.base_lrs]


@dataclass
class WarmupCosineRestartsParams:
    """Arguments of :class:`WarmupCosineRestarts` (stepped every optimizer step)."""

    INTERVAL: ClassVar[str] = "step"
    max_steps: int | None = None
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    num_cycles: int = 3
    cycle_mult: float = 1.0
    restart_decay: float = 1.0
    min_lr: float = 0.0
    last_epoch: int = -1

