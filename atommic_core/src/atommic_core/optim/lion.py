"""Lion: evolved sign momentum.

Chen, X. et al. "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023
(arXiv:2302.06675).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from atommic_core.optim._parameterwise import ParameterwiseOptimizer

__all__ = ["Lion"]


class Lion(ParameterwiseOptimizer):
    """Lion (Chen et al., 2023): the update is the sign of an interpolated momentum.

    For each parameter ``w`` with gradient ``g`` and momentum ``m`` (zeros at start)::

        c = beta1 * m + (1 - beta1) * g
        w = w * (1 - lr * weight_decay)        # multiplicative (decoupled) weight decay
        w = w - lr * sign(c)
        m = beta2 * m + (1 - beta2) * g

    Every coordinate moves by exactly ``lr`` (or not at all when ``c`` is 0), so Lion
    usually wants a learning rate 3-10x smaller than AdamW and a larger weight decay.
    Complex parameters are updated as real tensors of twice the size.

    Args:
        params: Parameters or parameter-group dicts (float or complex tensors of any shape).
        lr: Learning rate.
        betas: ``(beta1, beta2)``: interpolation for the update and momentum decay.
        weight_decay: Decoupled, multiplicative weight decay.

    Example:
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = Lion([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()
        >>> w.data
        tensor([0.9000, 0.9000, 0.9000])
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0) -> None:
        if lr < 0.0:
            raise ValueError(f"Lion: lr must be >= 0, found {lr}")
        if len(betas) != 2 or not all(0.0 <= b <= 1.0 for b in betas):
            raise ValueError(f"Lion: betas must be two values in [0, 1], found {betas}")
        if weight_decay < 0.0:
            raise ValueError(f"Lion: weight_decay must be >= 0, found {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    def _update(self, w: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        if not state:
            state["exp_avg"] = torch.zeros_like(w)
        m = state["exp_avg"]
        direction = (m * beta1).add_(g, alpha=1.0 - beta1).sign_()
        if wd != 0.0:
            w.mul_(1.0 - lr * wd)
        w.add_(direction, alpha=-lr)
        m.mul_(beta2).add_(g, alpha=1.0 - beta2)
