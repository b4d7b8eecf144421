"""Base class of the built-in optimizers whose rule updates each parameter tensor alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["ParameterwiseOptimizer"]


class ParameterwiseOptimizer(torch.optim.Optimizer):
    """An optimizer whose :meth:`step` applies a per-tensor rule, :meth:`_update`.

    :meth:`step` evaluates the closure, then calls ``_update(w, g, state, group)`` for every
    parameter with a gradient. Complex parameters and gradients are passed as real views
    (``torch.view_as_real``) of twice the size; ``state`` is the parameter's own state dict
    (empty on its first step). Sparse gradients are refused.
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one optimisation step.

        Args:
            closure: Optional callable that re-evaluates the model and returns the loss.

        Returns:
            The loss returned by ``closure``, if given.

        Raises:
            RuntimeError: If a gradient is sparse.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                w = torch.view_as_real(p) if p.is_complex() else p
                g = torch.view_as_real(p.grad) if p.grad.is_complex() else p.grad
                self._update(w, g, self.state[p], group)
        return loss

    def _update(self, w: torch.Tensor, g: torch.Tensor, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        """Update ``w`` in place from its gradient ``g``, ``state`` and ``group``'s options."""
        raise NotImplementedError
