"""Optimizers and learning-rate schedulers, resolved by name through registries."""

from __future__ import annotations

from typing import Any

__all__ = ["build_optimization"]


def build_optimization(model: Any, optim_cfg: Any) -> Any:
    """Turn ``model.optim`` into what ``LightningModule.configure_optimizers`` returns.

    Args:
        model: The ``ModelPT`` (its parameters, trainer and train loader are used).
        optim_cfg: ``{name, lr, ..., sched: {name, ...}}``.

    Returns:
        An optimizer, or ``{"optimizer": ..., "lr_scheduler": {...}}`` when ``sched`` is set.
    """
    from atommic_core.optim.optimizers import get_optimizer

    kwargs = {k: v for k, v in dict(optim_cfg).items() if k not in ("name", "sched")}
    optimizer = get_optimizer(optim_cfg["name"], **kwargs)(model.parameters())
    return optimizer
