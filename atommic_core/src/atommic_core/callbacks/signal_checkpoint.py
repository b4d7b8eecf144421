"""On SIGTERM or Ctrl-C, finish the current step, write a resumable checkpoint and stop."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities.exceptions import SIGTERMException
from typing_extensions import override

__all__ = ["SignalCheckpoint"]

LOG = logging.getLogger("atommic_core.callbacks")


class SignalCheckpoint(Callback):
    """Turn SIGTERM (cluster pre-emption, ``kill``) and Ctrl-C into a clean, resumable stop.

    The signal only raises a flag. At the end of the running training step every rank agrees
    on the flag, the trainer saves ``<dirpath>/<filename>`` (the state after that step:
    weights, optimizer, scheduler, loop counters) and ``SIGTERMException`` ends ``fit``. A
    later run with ``exp_manager.resume_if_exists: true`` continues at the next step, so no
    step is lost or repeated. A second Ctrl-C interrupts at once, as usual (no checkpoint;
    the CLI exits 130 as for one Ctrl-C).

    Args:
        dirpath: Folder of the checkpoint (usually ``<log_dir>/checkpoints``).
        filename: File name of the checkpoint.

    Attributes:
        received: ``"SIGTERM"`` or ``"SIGINT"`` once a signal arrived, else None.
        checkpoint_path: The file written, once written.
        aborted: True once a second Ctrl-C stopped the run before it could save.
    """

    def __init__(self, dirpath: str | os.PathLike, filename: str = "interrupted.ckpt") -> None:
        self.dirpath = Path(dirpath)
        self.filename = filename
        self.received: str | None = None
        self.checkpoint_path: Path | None = None
        self.interruptions = 0
        self.aborted = False  # a second Ctrl-C stopped the run without a checkpoint
        self._previous_sigint: Any = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(filename=self.filename)

    # -- signal handling -------------------------------------------------------------
    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.received == "SIGINT":  # second Ctrl-C: stop now
            self.aborted = True
            raise KeyboardInterrupt
        self.received = "SIGINT"
        LOG.warning("Ctrl-C: stopping after this step and writing a resumable checkpoint "
                    "(press Ctrl-C again to abort at once)")

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    # -- checkpointing ---------------------------------------------------------------
    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._should_stop(trainer):
            self._log_this_step(trainer)
            self._do_checkpoint(trainer)
            raise SIGTERMException

    @staticmethod
    def _log_this_step(trainer: pl.Trainer) -> None:
        """Send the finished step's metrics to the loggers, which raising would skip."""
        connector = getattr(trainer, "_logger_connector", None)  # Lightning-internal
        with contextlib.suppress(Exception):
            connector.on_batch_end()
            connector.update_train_step_metrics()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        # A signal during validation ends fit before any training step can save.
        # After a second Ctrl-C the state may be mid-update: never save it.
        if (isinstance(exception, (SIGTERMException, KeyboardInterrupt)) and not self.aborted
                and self.checkpoint_path is None and trainer.world_size == 1
                and trainer.state.fn == "fit" and not trainer.sanity_checking):
            self.received = self.received or "SIGTERM"
            with contextlib.suppress(Exception):
                self._do_checkpoint(trainer)

    def _should_stop(self, trainer: pl.Trainer) -> bool:
        if trainer.received_sigterm and self.received is None:
            self.received = "SIGTERM"
        local = self.received is not None
        if trainer.world_size > 1:  # every rank must save together, or none
            return bool(trainer.strategy.reduce_boolean_decision(local, all=False))
        return local

    def _do_checkpoint(self, trainer: pl.Trainer) -> None:
        self.received = self.received or "SIGTERM"
        self.interruptions += 1
        path = self.dirpath / self.filename
        tmp = self.dirpath / f".{self.filename}.tmp"
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(tmp, weights_only=False)  # full state: resumable
        if trainer.is_global_zero:
            os.replace(tmp, path)
        trainer.strategy.barrier("atommic_signal_checkpoint")
        self.checkpoint_path = path
        LOG.warning("%s received: wrote resumable checkpoint %s at step %d; resume with "
                    "exp_manager.resume_if_exists=true", self.received, path, trainer.global_step)

    # -- state -----------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"interruptions": self.interruptions}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.interruptions = int(state_dict.get("interruptions", 0))
