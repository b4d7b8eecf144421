"""At the end of training, write the best (else the last) model as ``<name>.atommic``."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from typing_extensions import override

__all__ = ["AtommicExport"]

LOG = logging.getLogger("atommic_core.callbacks")


class AtommicExport(Callback):
    """Export the trained model as a ``.atommic`` archive when ``fit`` ends normally.

    If a ``ModelCheckpoint`` with a ``monitor`` kept a best checkpoint, its weights are loaded
    into the model first (so what follows, e.g. ``test``, uses the same weights as the
    archive); otherwise the current (last) weights are exported. Nothing is written when fit
    was interrupted.

    Args:
        path: The archive to write, e.g. ``<log_dir>/checkpoints/<name>.atommic``.
        load_best: Load the best checkpoint's weights before exporting.

    Attributes:
        exported_path: The archive written, once written.
        source: ``"best"`` or ``"last"``: which weights were exported.
    """

    def __init__(self, path: str | os.PathLike, load_best: bool = True) -> None:
        self.path = Path(path)
        self.load_best = load_best
        self.exported_path: Path | None = None
        self.source: str | None = None
        self.exports = 0
        self._started: float | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(path=self.path.name)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.monotonic()

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._should_export(trainer):
            return
        from atommic_core.model.model_card import run_facts

        seconds = None if self._started is None else time.monotonic() - self._started
        # the model card of the archive records this run's budget (plus what train set)
        pl_module._atommic_card_run = {**(getattr(pl_module, "_atommic_card_run", None) or {}),
                                       **run_facts(trainer, seconds)}
        best = self._best_checkpoint(trainer)
        if best is not None:
            self._load_weights(pl_module, best)
        self.source = "best" if best is not None else "last"
        if trainer.is_global_zero:
            self._do_export(pl_module)
        trainer.strategy.barrier("atommic_export")
        self.exported_path = self.path

    def _should_export(self, trainer: pl.Trainer) -> bool:
        return trainer.state.status != "interrupted" and not trainer.sanity_checking

    def _best_checkpoint(self, trainer: pl.Trainer) -> str | None:
        if not self.load_best:
            return None
        for cb in trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(cb, ModelCheckpoint) and cb.monitor and cb.best_model_path:
                if Path(cb.best_model_path).is_file():
                    return cb.best_model_path
        return None

    @staticmethod
    def _load_weights(pl_module: pl.LightningModule, ckpt_path: str) -> None:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)["state_dict"]
        pl_module.load_state_dict(state)
        LOG.info("loaded best weights from %s", ckpt_path)

    def _do_export(self, pl_module: Any) -> None:
        if not hasattr(pl_module, "save_to"):
            LOG.warning("%s has no save_to(); %s not written", type(pl_module).__name__,
                        self.path)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}")
        pl_module.save_to(str(tmp))
        os.replace(tmp, self.path)
        self.exports += 1
        LOG.info("saved %s weights to %s", self.source, self.path)

    # -- state -----------------------------------------------------------------------
    @override
    def state_dict(self) -> dict[str, Any]:
        return {"exports": self.exports}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.exports = int(state_dict.get("exports", 0))
