"""Scheduler registry and the ``model.optim.sched`` builder.

``AVAILABLE_SCHEDULERS`` maps names (``"CosineAnnealing"``, ``"StepLR"``, ...) to scheduler
classes; it is filled lazily by every plugin's ``atommic_register_schedulers`` hook, the
core's built-ins included. :func:`prepare_lr_scheduler` turns a ``sched`` section into the
``lr_scheduler`` dict Lightning expects::

    sched:
      name: CosineAnnealing
      max_steps: -1          # -1 or absent: trainer.estimated_stepping_batches
      warmup_ratio: 0.1      # or warmup_steps (not both)
      min_lr: 1.0e-6
      monitor: val_loss      # used by ReduceLROnPlateau
"""

from __future__ import annotations

import functools
import math
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from atommic_core.errors import ConfigError
from atommic_core.optim._args import field_names, resolve_arguments, to_plain_dict
from atommic_core.optim._policies import (
    CosineAnnealing,
    InverseSquareRootAnnealing,
    NoamAnnealing,
    PolynomialDecayAnnealing,
    PolynomialHoldDecayAnnealing,
    SquareAnnealing,
    SquareRootAnnealing,
    WarmupAnnealing,
    WarmupHoldPolicy,
    WarmupPolicy,
)
from atommic_core.registry import schedulers as AVAILABLE_SCHEDULERS

__all__ = [
    "AVAILABLE_SCHEDULERS",
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
    "get_scheduler",
    "max_steps_from_trainer",
    "prepare_lr_scheduler",
    "register_scheduler",
]

# Keys of ``sched`` that configure Lightning, not the scheduler's constructor.
_LIGHTNING_KEYS = ("monitor", "reduce_on_plateau", "interval")


def register_scheduler(name: str, scheduler_cls: type, params_dataclass: type) -> None:
    """Add a scheduler at run time (e.g. from a notebook).

    Args:
        name: Name usable as ``model.optim.sched.name``.
        scheduler_cls: A ``torch.optim.lr_scheduler.LRScheduler`` (or ``ReduceLROnPlateau``)
            subclass taking the optimizer first.
        params_dataclass: Dataclass listing its keyword arguments with defaults; its class
            variable ``INTERVAL`` (``"step"`` or ``"epoch"``, default ``"step"``) says how
            often to step it.

    Raises:
        PluginError: If ``name`` is already registered.
    """
    AVAILABLE_SCHEDULERS.register(name, scheduler_cls, params_dataclass)


def get_scheduler(name: str, **kwargs: Any) -> functools.partial:
    """Resolve ``name`` and bind its arguments, leaving only the optimizer to pass.

    Args:
        name: A registered scheduler name, e.g. ``"CosineAnnealing"``.
        **kwargs: Its arguments; the rest take the params dataclass's defaults.

    Returns:
        ``partial(scheduler_cls, **arguments)``.

    Raises:
        UnknownNameError: If no scheduler has that name.
        ConfigError: For an unknown or missing argument.
    """
    entry = AVAILABLE_SCHEDULERS.entry(name)
    arguments = resolve_arguments("scheduler", entry.name, entry.params, kwargs,
                                  "model.optim.sched")
    return functools.partial(entry.obj, **arguments)


def max_steps_from_trainer(trainer: Any) -> int:
    """Number of optimizer steps the trainer will take, from its run-time configuration.

    Uses Lightning's ``trainer.estimated_stepping_batches``, which accounts for
    ``max_epochs``, ``max_steps``, the training loader's length (dataset size, batch size,
    ``drop_last``, the distributed sampler's share per device and node),
    ``limit_train_batches`` and ``accumulate_grad_batches``.

    Args:
        trainer: A ``pytorch_lightning.Trainer`` the model is attached to (or ``None``).

    Returns:
        The step count (``int``, > 0).

    Raises:
        ConfigError: Without a trainer, or if the run is unbounded.
    """
    if trainer is None:
        raise ConfigError("sched.max_steps is -1 (computed at run time) but the model has no "
                          "trainer; hint: set model.optim.sched.max_steps or call "
                          "setup_optimization from trainer.fit")
    steps = trainer.estimated_stepping_batches
    if not math.isfinite(steps) or steps <= 0:
        raise ConfigError(f"cannot compute sched.max_steps: the trainer's run is unbounded "
                          f"(estimated steps {steps}); hint: set trainer.max_epochs, "
                          "trainer.max_steps or model.optim.sched.max_steps")
    return int(steps)


def _constructor_args(entry: Any, cfg: dict[str, Any], trainer: Any) -> dict[str, Any]:
    fields = field_names(entry.params)
    max_steps = cfg.pop("max_steps", None)
    if entry.params is None:  # unchecked plugin entry: pass what was given
        if max_steps is not None and max_steps > 0:
            cfg["max_steps"] = max_steps
    elif "max_steps" in fields:
        use_given = max_steps is not None and max_steps > 0
        cfg["max_steps"] = int(max_steps) if use_given else max_steps_from_trainer(trainer)
    if entry.params is not None and "last_epoch" not in fields:
        if cfg.get("last_epoch", -1) not in (-1, None):
            raise ConfigError(f"scheduler {entry.name!r} cannot resume from last_epoch="
                              f"{cfg['last_epoch']}; hint: remove sched.last_epoch")
        cfg.pop("last_epoch", None)
    return resolve_arguments("scheduler", entry.name, entry.params, cfg, "model.optim.sched")


def prepare_lr_scheduler(optimizer: Optimizer, scheduler_config: Any,
                         trainer: Any = None) -> dict[str, Any] | None:
    """Build the scheduler described by ``model.optim.sched`` for ``optimizer``.

    Args:
        optimizer: The optimizer to schedule.
        scheduler_config: Mapping with ``name`` and the scheduler's arguments, plus
            ``max_steps`` (``-1``/absent = :func:`max_steps_from_trainer`), ``monitor``,
            ``reduce_on_plateau`` and optionally ``interval`` (``"step"``/``"epoch"``,
            default from the params dataclass). ``None`` means no scheduler.
        trainer: The Lightning trainer, needed only when ``max_steps`` is computed.

    Returns:
        ``None`` for no scheduler, else Lightning's scheduler dict: ``scheduler``,
        ``interval``, ``frequency`` (1), ``reduce_on_plateau`` and ``monitor`` (default
        ``"val_loss"`` for plateau schedulers).

    Raises:
        ConfigError: For a missing name, bad arguments, both ``warmup_steps`` and
            ``warmup_ratio``, or an uncomputable ``max_steps``.
        UnknownNameError: If no scheduler has that name.
    """
    if scheduler_config is None:
        return None
    cfg = to_plain_dict(scheduler_config)
    name = cfg.pop("name", None)
    if not name:
        raise ConfigError(f"model.optim.sched needs a name; found keys {sorted(cfg)}; hint: "
                          "e.g. name: CosineAnnealing (python -m atommic_core list schedulers)")
    entry = AVAILABLE_SCHEDULERS.entry(name)
    monitor, plateau, interval = (cfg.pop(k, None) for k in _LIGHTNING_KEYS)
    interval = interval or getattr(entry.params, "INTERVAL", "step")
    if interval not in ("step", "epoch"):
        raise ConfigError(f"sched.interval must be 'step' or 'epoch'; found {interval!r}")
    arguments = _constructor_args(entry, cfg, trainer)
    if arguments.get("last_epoch", -1) >= 0:  # resuming by hand: torch needs initial_lr
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
    scheduler = entry.obj(optimizer, **arguments)
    plateau = bool(plateau) or isinstance(scheduler, ReduceLROnPlateau)
    out = {"scheduler": scheduler, "interval": interval, "frequency": 1,
           "reduce_on_plateau": plateau}
    if plateau or monitor:
        out["monitor"] = monitor or "val_loss"
    return out
