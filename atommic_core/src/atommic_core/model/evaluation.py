"""Validation and test steps shared by the task models: one ``_eval_step(batch, stage)``."""

from __future__ import annotations

from typing import Any


class EvalStepsMixin:
    """``validation_step``/``test_step`` that call the model's ``_eval_step(batch, stage)``.

    Task models score validation and test batches the same way and differ only in the stage
    name under which they log and collect (``"val"`` or ``"test"``).
    """

    def _eval_step(self, batch: dict[str, Any], stage: str) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _eval_step(batch, stage)")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Any:
        """Logs ``val_loss`` and collects the batch for the per-volume metrics."""
        return self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> Any:
        """Logs ``test_loss`` and collects the batch for the metric tables."""
        return self._eval_step(batch, "test")

    def _is_global_zero(self) -> bool:
        """Rank 0 (or no trainer attached): the process that writes tables and files."""
        trainer = getattr(self, "_trainer", None)
        return trainer is None or trainer.is_global_zero
