"""qZeroFilled: the maps fitted to the zero-filled echoes (no parameters)."""

from __future__ import annotations

from typing import Any

import torch

from atommic_qi.models.base import QuantitativeModel

__all__ = ["qZeroFilled"]


class qZeroFilled(QuantitativeModel):  # noqa: N801 - ATOMMIC's model name
    """The fit of :func:`atommic_qi.fitting.fit_maps` to the zero-filled SENSE echoes.

    ``requires_training`` is False: ``test``/``predict`` build it from the config without
    ``model.restore_path``. With a reconstruction module (``use_reconstruction_module``) it
    fits the module's echoes instead.
    """

    requires_training = False

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Not trainable."""
        raise RuntimeError("qZeroFilled has no parameters to train; run `test` or `predict`")

    def configure_optimizers(self) -> Any:
        """No optimizer (evaluation only)."""
        return None
