"""Optimizers and learning-rate schedulers, resolved by name through registries.

``model.optim`` holds the optimizer ``name``, its arguments and an optional ``sched``
section; :func:`build_optimization` turns it into what ``configure_optimizers`` returns.
"""

from __future__ import annotations

from typing import Any

from atommic_core.errors import ConfigError

__all__ = ["build_optimization", "check_optimization"]


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


def check_optimization(optim_cfg: Any) -> None:
    """Build ``model.optim`` once on a dummy parameter and take one step, to check values.

    Names and argument types are checked elsewhere; this catches values the optimizer or
    scheduler itself rejects (``lr: -1e-3``, ``betas: [1.5, 0.9]``, a negative
    ``warmup_ratio``...) while the config is validated, before a run folder exists.

    Args:
        optim_cfg: The ``model.optim`` section.

    Raises:
        ConfigError: One line naming the section and the class's own complaint.
    """
    import torch

    from atommic_core.optim._args import to_plain_dict
    from atommic_core.optim.lr_scheduler import prepare_lr_scheduler
    from atommic_core.optim.optimizers import get_optimizer

    cfg = to_plain_dict(optim_cfg)
    name = cfg.pop("name", None)
    sched = cfg.pop("sched", None)
    param = torch.nn.Parameter(torch.zeros(1))
    param.grad = torch.zeros(1)
    where = "model.optim"
    try:
        optimizer = get_optimizer(name, **cfg)([param])
        built = None
        if sched:
            where = "model.optim.sched"
            sched = dict(to_plain_dict(sched))
            if not (isinstance(sched.get("max_steps"), int) and sched["max_steps"] > 0):
                sched["max_steps"] = 100  # known only at run time; any bound checks values
            built = prepare_lr_scheduler(optimizer, sched)
        optimizer.step()
        if built is not None and not built["reduce_on_plateau"]:  # plateau: steps on a metric
            built["scheduler"].step()
    except ConfigError:
        raise
    except (ValueError, TypeError, ZeroDivisionError, AssertionError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{where}: {message}; hint: fix the value in {where}") from exc
