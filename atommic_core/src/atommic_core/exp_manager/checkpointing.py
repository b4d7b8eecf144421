"""Checkpoint and early-stopping callbacks, and which checkpoint a run resumes from."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError
from atommic_core.exp_manager.config import ExpManagerConfig

__all__ = ["build_checkpoint_callbacks", "build_early_stopping", "find_resume_checkpoint"]

LOG = logging.getLogger("atommic_core.exp_manager")


_TRIGGERS = ("every_n_train_steps", "every_n_epochs", "train_time_interval",
             "save_on_train_epoch_end")


def _make(params: dict[str, Any], ckpt_dir: Path, last: bool = False) -> Any:
    from pytorch_lightning.callbacks import ModelCheckpoint

    class LastCheckpoint(ModelCheckpoint):
        """Rewrites ``<name>--last.ckpt`` at every save point (its own state key)."""

    try:
        return (LastCheckpoint if last else ModelCheckpoint)(dirpath=str(ckpt_dir), **params)
    except Exception as exc:  # TypeError, or Lightning's MisconfigurationException
        raise ConfigError(f"exp_manager.checkpoint_callback_params: {exc}") from exc


def build_checkpoint_callbacks(cfg: ExpManagerConfig, ckpt_dir: Path, name: str,
                               has_validation: bool) -> list[Any]:
    """``ModelCheckpoint`` callbacks configured by ``checkpoint_callback_params``.

    Defaults: ``monitor="val_loss"`` and ``mode="min"`` when the model has a validation set
    (no monitor otherwise), ``save_top_k=1``, ``save_last=True``, files named
    ``<name>--{<monitor>:.4f}-{epoch}-{step}.ckpt``.

    ``save_last`` is served by a second, unmonitored callback that rewrites
    ``<name>--last.ckpt`` at every save point. (Lightning's own ``save_last`` only refreshes
    the last checkpoint when a top-k checkpoint was saved at the same step, so after an
    epoch without improvement it would resume from an older state and lose steps.)

    Args:
        cfg: The experiment manager options.
        ckpt_dir: ``<log_dir>/checkpoints``.
        name: The experiment name (prefix of the checkpoint files).
        has_validation: Whether ``model.validation_ds`` is configured.

    Returns:
        The monitored (top-k) callback, then the "last" callback if ``save_last``.
    """
    params = dict(cfg.checkpoint_callback_params)
    params.setdefault("monitor", "val_loss" if has_validation else None)
    monitor = params["monitor"]
    params.setdefault("mode", "min")
    params.setdefault("save_top_k", 1)
    save_last = params.pop("save_last", True)
    if monitor:
        params.setdefault("filename", f"{name}--{{{monitor}:.4f}}-{{epoch}}-{{step}}")
    else:
        params.setdefault("filename", f"{name}--{{epoch}}-{{step}}")
    params.pop("dirpath", None)
    callbacks = [_make(params, ckpt_dir)]
    if save_last:
        last = {k: params[k] for k in _TRIGGERS if k in params}
        last.update(monitor=None, save_top_k=1, filename=f"{name}--last",
                    enable_version_counter=False)
        callbacks.append(_make(last, ckpt_dir, last=True))
    return callbacks


def build_early_stopping(cfg: ExpManagerConfig) -> Any:
    """An ``EarlyStopping`` callback (default ``monitor="val_loss"``, ``patience=3``)."""
    from pytorch_lightning.callbacks import EarlyStopping

    params = {"monitor": "val_loss", "mode": "min", "patience": 3,
              **cfg.early_stopping_callback_params}
    try:
        return EarlyStopping(**params)
    except Exception as exc:  # TypeError or MisconfigurationException
        raise ConfigError(f"exp_manager.early_stopping_callback_params: {exc}") from exc


def find_resume_checkpoint(cfg: ExpManagerConfig, ckpt_dir: Path) -> str | None:
    """The checkpoint to resume from, or None to start fresh.

    ``resume_from_checkpoint`` wins; otherwise, with ``resume_if_exists``, the newest
    ``*.ckpt`` of ``ckpt_dir`` (``last``, an interrupt checkpoint or a top-k one).

    Raises:
        ConfigError: if ``resume_from_checkpoint`` does not exist, or nothing can be resumed
            and ``resume_ignore_no_checkpoint`` is false.
    """
    if cfg.resume_from_checkpoint:
        path = Path(cfg.resume_from_checkpoint).expanduser()
        if not path.is_file():
            raise ConfigError(f"exp_manager.resume_from_checkpoint: {path} does not exist")
        LOG.info("resuming from %s", path)
        return str(path.resolve())
    if not cfg.resume_if_exists:
        return None
    found = sorted(ckpt_dir.glob("*.ckpt"), key=lambda p: (
        p.stat().st_mtime_ns, "last" in p.name or "interrupted" in p.name))
    if not found:
        if not cfg.resume_ignore_no_checkpoint:
            raise ConfigError(
                f"exp_manager.resume_if_exists: nothing to resume in {ckpt_dir}; set "
                "resume_ignore_no_checkpoint: true to start fresh"
            )
        LOG.info("resume_if_exists: nothing to resume in %s; starting fresh", ckpt_dir)
        return None
    LOG.info("resume_if_exists: resuming from %s", found[-1])
    return str(found[-1])
