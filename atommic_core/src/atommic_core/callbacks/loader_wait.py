"""How long the training loop waits for data, i.e. whether the loader starves the model.

Add it from the command line, no code needed (``output`` is optional)::

    python -m atommic_core train ... '+trainer.callbacks=[{_target_:
        atommic_core.callbacks.LoaderWaitMonitor, output: wait.json}]'
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

__all__ = ["LoaderWaitMonitor"]

LOG = logging.getLogger("atommic_core.loader_wait")


class LoaderWaitMonitor(Callback):
    """Time, per training step, the wait for the next batch and the step itself.

    ``wait`` is the time from the end of one training batch to the start of the next: with
    ``num_workers > 0`` that is how long the loop blocked on the loader (plus Lightning's own
    bookkeeping, a floor of about a millisecond); ``step`` is forward, backward and optimizer
    step. The first batch of each epoch (worker start-up) is reported apart. A loader keeps
    up when the median wait is a small fraction of the median step.

    Args:
        output: Optional JSON file for the summary (written by rank 0, via a temporary name).
    """

    def __init__(self, output: str | None = None) -> None:
        self.output = output
        self.waits: list[float] = []
        self.first_waits: list[float] = []
        self.steps: list[float] = []
        self._last_end: float | None = None
        self._epoch_start: float | None = None
        self._batch_start = 0.0

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start, self._last_end = time.perf_counter(), None

    @override
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._last_end is not None:
            self.waits.append(now - self._last_end)
        elif self._epoch_start is not None:
            self.first_waits.append(now - self._epoch_start)
        self._batch_start = now

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._last_end = time.perf_counter()
        self.steps.append(self._last_end - self._batch_start)

    def summary(self) -> dict[str, Any]:
        """Medians in milliseconds and the share of loop time spent waiting for data."""
        def median_ms(values: list[float]) -> float | None:
            return round(1e3 * statistics.median(values), 3) if values else None

        busy = sum(self.waits) + sum(self.steps)  # loop time, first batch of epochs excluded
        return {"steps": len(self.steps), "busy_s": round(busy, 6),
                "wait_ms_median": median_ms(self.waits),
                "wait_ms_max": round(1e3 * max(self.waits), 3) if self.waits else None,
                "step_ms_median": median_ms(self.steps),
                "first_batch_wait_ms_median": median_ms(self.first_waits),
                "wait_fraction": round(sum(self.waits) / busy, 4) if busy else None}

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        summary = self.summary()
        if trainer.global_rank != 0:
            return
        LOG.info("loader wait per step: %s", summary)
        if self.output:
            path = Path(self.output)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
            tmp.replace(path)
