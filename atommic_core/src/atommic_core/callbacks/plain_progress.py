"""Plain log lines instead of a progress bar when the output is not a terminal."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

__all__ = ["PlainProgressLog"]

LOG = logging.getLogger("atommic_core.progress")


def _format(metrics: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(metrics.items()):
        try:
            parts.append(f"{key}={float(value):.4g}")
        except (TypeError, ValueError):
            continue
    return " ".join(parts)


class PlainProgressLog(Callback):
    """Log ``epoch E step S/T <metrics>`` every ``every_n_steps`` steps, and each validation.

    Batch jobs and CI capture these lines; a progress bar would fill the log with carriage
    returns instead.

    Args:
        every_n_steps: Log each that many optimizer steps (the trainer's
            ``log_every_n_steps`` is a good value).
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every_n_steps = max(1, int(every_n_steps))
        self._start = time.monotonic()
        self._last_logged = -1

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()
        LOG.info("training starts at step %d (epoch %d)", trainer.global_step,
                 trainer.current_epoch)

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step == self._last_logged or (step % self.every_n_steps and step != 1):
            return
        self._last_logged = step
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        of = f"/{total}" if total else ""
        LOG.info("epoch %d step %d%s %s (%.1fs)", trainer.current_epoch, step, of,
                 _format(trainer.progress_bar_metrics), time.monotonic() - self._start)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("val")}
        LOG.info("epoch %d step %d validation: %s", trainer.current_epoch, trainer.global_step,
                 _format(metrics))

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        LOG.info("training ends at step %d (epoch %d) after %.1fs", trainer.global_step,
                 trainer.current_epoch, time.monotonic() - self._start)
