"""Zero-filled reconstruction: inverse FFT of the undersampled k-space, SENSE or RSS combined."""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.physics import ifft2, rss_complex, sense_reduce

__all__ = ["ZeroFilled"]


class ZeroFilled(ReconstructionModel):
    """The zero-filled baseline (no parameters: use it with ``test``/``predict`` only).

    ``requires_training`` is False, so ``test``/``predict`` build it from the config without
    ``model.restore_path``.

    Config: ``coil_combination_method``: ``SENSE`` (default, needs sensitivity maps) or ``RSS``.
    """

    requires_training = False

    def build_networks(self) -> None:
        """Check the coil-combination method."""
        self.coil_combination = str(self.cfg.get("coil_combination_method", "SENSE")).upper()
        if self.coil_combination not in ("SENSE", "RSS"):
            raise ValueError(f"ZeroFilled: coil_combination_method must be SENSE or RSS, found "
                             f"{self.coil_combination!r}")

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[S^H F^-1 y]`` (SENSE) or ``[RSS(F^-1 y)]`` (as a complex tensor)."""
        coil_images = ifft2(batch["masked_kspace"], **self.fft_kw)
        if self.coil_combination == "SENSE":
            return [sense_reduce(coil_images, batch["sensitivity_maps"])]
        return [rss_complex(coil_images, dim=1).to(coil_images.dtype)]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Not trainable."""
        raise RuntimeError("ZeroFilled has no parameters to train; run `test` or `predict`")

    def configure_optimizers(self) -> Any:
        """No optimizer (evaluation only)."""
        return None
