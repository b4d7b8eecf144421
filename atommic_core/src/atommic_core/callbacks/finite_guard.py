"""Stop training at the first non-finite loss; never checkpoint non-finite weights.

Without this guard a single NaN in the data trains the whole network to NaN while the run
exits 0, "saves the best weights" from ``val_ssim=nan`` and reports PSNR=inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from atommic_core.errors import NonFiniteError

__all__ = ["FiniteGuard", "non_finite_tensors"]


def non_finite_tensors(state: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point or complex tensors in ``state`` holding NaN or Inf."""
    return [name for name, value in state.items()
            if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex())
            and not bool(torch.isfinite(value).all())]


class FiniteGuard(Callback):
    """Raise :class:`~atommic_core.errors.NonFiniteError` before a non-finite loss is used.

    The check runs before ``backward``, so the optimizer never applies a NaN/Inf update and
    the last checkpoint stays valid; a checkpoint about to be written from non-finite
    weights (e.g. an update that overflowed) is refused the same way. Mixed precision with a
    gradient scaler skips overflowing steps by design and is not affected: the loss itself
    stays finite there.
    """

    @override
    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           loss: torch.Tensor) -> None:
        if bool(torch.isfinite(loss.detach()).all()):
            return
        raise NonFiniteError(
            f"train: the loss is {float(loss.detach().float().sum())} at step "
            f"{trainer.global_step} (epoch {trainer.current_epoch}); stopped before updating "
            "the weights, nothing was saved from this state; hint: check the data for NaN/Inf "
            "(datasets name the file and slice) or lower model.optim.lr")

    @override
    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        bad = non_finite_tensors(checkpoint.get("state_dict", {}))
        if bad:
            raise NonFiniteError(
                f"refusing to write a checkpoint at step {trainer.global_step}: {len(bad)} "
                f"weight tensor(s) hold NaN/Inf (first: {bad[0]}); hint: lower "
                "model.optim.lr or check the data")
