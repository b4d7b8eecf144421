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

    def _flush_val_panels(self, dataformats: str = "CHW") -> None:
        """Log the collected validation panels (rank 0), then forget them.

        ``self._panels`` holds ``(tag, image)`` pairs; they go to every TensorBoard and W&B
        logger of the trainer.

        Args:
            dataformats: Layout of the images, ``"CHW"`` or ``"HWC"``.
        """
        panels = getattr(self, "_panels", [])
        if panels and getattr(self, "_trainer", None) is not None and self._is_global_zero():
            from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

            for logger in self.loggers:
                if isinstance(logger, TensorBoardLogger):
                    for tag, panel in panels:
                        logger.experiment.add_image(f"val_panels/{tag}", panel,
                                                    self.global_step, dataformats=dataformats)
                elif isinstance(logger, WandbLogger):
                    logger.log_image("val_panels", caption=[tag for tag, _ in panels],
                                     images=[_hwc(panel, dataformats) for _, panel in panels],
                                     step=self.global_step)
        panels.clear()


def _hwc(image: Any, dataformats: str) -> Any:
    """An image as an HxW or HxWxC NumPy array (what W&B takes)."""
    import numpy as np

    array = np.asarray(image)
    if dataformats == "CHW":
        array = np.moveaxis(array, 0, -1)
    return array[..., 0] if array.shape[-1] == 1 else array
