"""TensorBoard, Weights & Biases and CSV loggers writing inside the run folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError
from atommic_core.exp_manager.config import ExpManagerConfig

__all__ = ["build_loggers", "check_logger_packages"]

LOG = logging.getLogger("atommic_core.exp_manager")


# logger -> (an importable module that proves it can run, the pip package to install)
_PACKAGES = {"tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
             "wandb": (("wandb",), "wandb")}


def check_logger_packages(cfg: ExpManagerConfig) -> None:
    """Fail early, naming the package, when an enabled logger's package is not installed.

    Args:
        cfg: The experiment manager options.

    Raises:
        ConfigError: e.g. ``exp_manager.create_tensorboard_logger needs the 'tensorboard'
            package; ...``.
    """
    import importlib.util

    for kind, enabled in (("tensorboard", cfg.create_tensorboard_logger),
                          ("wandb", cfg.create_wandb_logger)):
        modules, package = _PACKAGES[kind]
        if enabled and not any(importlib.util.find_spec(m) for m in modules):
            raise ConfigError(f"exp_manager.create_{kind}_logger needs the {package!r} "
                              f"package, which is not installed; hint: pip install {package}, "
                              f"or set exp_manager.create_{kind}_logger=false")


def _make(kind: str, factory: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return factory(**kwargs)
    except TypeError as exc:  # an unknown keyword in *_logger_kwargs
        raise ConfigError(f"exp_manager.{kind}_logger_kwargs: {exc}") from exc
    except ModuleNotFoundError as exc:
        package = _PACKAGES.get(kind, ((), exc.name or kind))[1]
        raise ConfigError(f"exp_manager.create_{kind}_logger needs the {package!r} package "
                          f"({exc}); hint: pip install {package}, or set "
                          f"exp_manager.create_{kind}_logger=false") from exc


def _wandb(cfg: ExpManagerConfig, log_dir: Path, name: str, version: str) -> Any:
    from pytorch_lightning.loggers import WandbLogger

    kwargs = {"name": f"{name}_{version}", "project": name, "offline": True,
              **cfg.wandb_logger_kwargs, "save_dir": str(log_dir)}
    if kwargs["offline"]:
        # Offline runs never touch the network, so a cluster node without it cannot block.
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    return _make("wandb", WandbLogger, kwargs)


def _keep_previous_metrics(csv_dir: Path) -> None:
    """Lightning's CSV logger deletes an existing ``metrics.csv``; a resumed run keeps it."""
    old = csv_dir / "metrics.csv"
    if old.is_file():
        n = 0
        while (csv_dir / f"metrics-{n}.csv").exists():
            n += 1
        os.replace(old, csv_dir / f"metrics-{n}.csv")
        LOG.info("kept the metrics of the previous session as %s", csv_dir / f"metrics-{n}.csv")


def build_loggers(cfg: ExpManagerConfig, log_dir: Path, name: str) -> list[Any]:
    """The loggers asked for by ``cfg``; all write below ``log_dir``.

    Args:
        cfg: The experiment manager options.
        log_dir: The run folder ``exp_dir/name/version``.
        name: The experiment name.

    Returns:
        A list of Lightning loggers (empty if all are disabled). TensorBoard writes to
        ``log_dir`` itself, CSV to ``log_dir/csv``, W&B to ``log_dir/wandb``.
    """
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    version = log_dir.name
    root = str(log_dir.parent.parent)
    loggers: list[Any] = []
    if cfg.create_tensorboard_logger:
        kwargs = {"name": name, "version": version, "default_hp_metric": False,
                  **cfg.tensorboard_logger_kwargs, "save_dir": root}
        loggers.append(_make("tensorboard", TensorBoardLogger, kwargs))
    if cfg.create_wandb_logger:
        loggers.append(_wandb(cfg, log_dir, name, version))
    if cfg.create_csv_logger:
        kwargs = {"name": "csv", "version": "", **cfg.csv_logger_kwargs, "save_dir": str(log_dir)}
        csv_logger = _make("csv", CSVLogger, kwargs)
        _keep_previous_metrics(Path(csv_logger.log_dir))
        loggers.append(csv_logger)
    return loggers
