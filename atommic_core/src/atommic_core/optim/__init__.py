"""Optimizers and learning-rate schedulers, resolved by name through registries.

``model.optim`` holds the optimizer ``name``, its arguments and an optional ``sched``
section; :func:`build_optimization` turns it into what ``configure_optimizers`` returns.
"""

from __future__ import annotations

from typing import Any

from atommic_core.errors import ConfigError

__all__ = ["build_optimization"]


def build_optimization(model: Any, optim_cfg: Any) -> Any:
    """Turn ``model.optim`` into what ``LightningModule.configure_optimizers`` returns.

    Args:
        model: The ``ModelPT`` (``torch.nn.Module``); its parameters are optimized and its
            trainer, if attached, supplies ``max_steps`` when ``sched.max_steps`` is -1.
        optim_cfg: ``{name, lr, <optimizer args>..., sched: {name, <scheduler args>...}}``.

    Returns:
        The optimizer alone (constant learning rate) when ``sched`` is absent or null, else
        ``{"optimizer": optimizer, "lr_scheduler": {"scheduler": ..., "interval": ...}}``.

    Raises:
        ConfigError: For a missing name or bad arguments.
        UnknownNameError: For an unknown optimizer or scheduler name.

    Example:
        >>> import torch
        >>> out = build_optimization(torch.nn.Linear(2, 1), {"name": "adam", "lr": 1e-3})
        >>> type(out).__name__
        'Adam'
    """
    from atommic_core.optim._args import to_plain_dict
    from atommic_core.optim.lr_scheduler import prepare_lr_scheduler
    from atommic_core.optim.optimizers import get_optimizer

    cfg = to_plain_dict(optim_cfg)
    name = cfg.pop("name", None)
    if not name:
        raise ConfigError(f"model.optim needs a name; found keys {sorted(cfg)}; hint: e.g. "
                          "{name: adam, lr: 1e-3} (python -m atommic_core list optimizers)")
    sched = cfg.pop("sched", None)
    optimizer = get_optimizer(name, **cfg)(model.parameters())
    if not sched:
        return optimizer
    trainer = getattr(model, "_trainer", None)
    return {"optimizer": optimizer, "lr_scheduler": prepare_lr_scheduler(optimizer, sched, trainer)}
