"""NovoGrad: SGD with layer-wise normalised gradients and decoupled weight decay.

Ginsburg, B. et al. "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
Training of Deep Networks", arXiv:1905.11286 (2019).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from atommic_core.optim._parameterwise import ParameterwiseOptimizer

__all__ = ["Novograd"]


class Novograd(ParameterwiseOptimizer):
    """NovoGrad (Ginsburg et al., 2019), one second moment per parameter tensor ("layer").

    For each parameter tensor ``w`` with gradient ``g`` at step ``t``::

        v_t = ||g_t||^2                                  if t == 1
        v_t = beta2 * v_{t-1} + (1 - beta2) * ||g_t||^2  otherwise
        u_t = g_t / (sqrt(v_t) + eps) + weight_decay * w_t
        m_t = beta1 * m_{t-1} + c * u_t     (c = 1 - beta1 with grad_averaging, else 1)
        w_{t+1} = w_t - lr * m_t

    Weight decay is decoupled from the adaptive normalisation: it is added after the
    gradient is divided by its layer norm, as in the paper. Complex parameters are
    treated as real tensors of twice the size (``torch.view_as_real``).

    Args:
        params: Parameters or parameter-group dicts (float or complex tensors of any shape).
        lr: Learning rate.
        betas: ``(beta1, beta2)``: momentum and second-moment decay.
        eps: Added to ``sqrt(v_t)`` for numerical stability.
        weight_decay: Decoupled weight decay ``d``.
        grad_averaging: Scale the normalised gradient by ``1 - beta1`` before momentum.
        amsgrad: Use the running maximum of ``v_t`` in the denominator.

    Example:
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = Novograd([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.95, 0.98), eps: float = 1e-8,
                 weight_decay: float = 0.0, grad_averaging: bool = False,
                 amsgrad: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Novograd: lr must be >= 0, found {lr}")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"Novograd: betas must be two values in [0, 1), found {betas}")
        if eps < 0.0 or weight_decay < 0.0:
            raise ValueError(f"Novograd: eps and weight_decay must be >= 0, found {eps}, "
                             f"{weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        grad_averaging=grad_averaging, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _update(self, w: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(w)
            state["exp_avg_sq"] = torch.zeros((), dtype=w.dtype, device=w.device)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros((), dtype=w.dtype, device=w.device)
        state["step"] += 1
        norm_sq = g.pow(2).sum()
        v = state["exp_avg_sq"]
        if state["step"] == 1:
            v.copy_(norm_sq)
        else:
            v.mul_(beta2).add_(norm_sq, alpha=1.0 - beta2)
        if group["amsgrad"]:
            torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        update = g / (v.sqrt() + group["eps"])
        if group["weight_decay"] != 0.0:
            update.add_(w, alpha=group["weight_decay"])
        if group["grad_averaging"]:
            update.mul_(1.0 - beta1)
        state["exp_avg"].mul_(beta1).add_(update)
        w.add_(state["exp_avg"], alpha=-group["lr"])
