"""Image-domain U-Net: refines the zero-filled image (complex as two channels)."""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets import NormUnet

__all__ = ["UNet"]


class UNet(ReconstructionModel):
    """A normalised U-Net applied to the initial (zero-filled) image (Ronneberger et al., 2015).

    Config: ``channels`` (64), ``pooling_layers`` (4), ``dropout`` (0.0), ``normalize`` (True),
    ``phase_equivariant`` (False: exact equivariance to a global phase, see
    :class:`~atommic_rec.nets.NormUnet`).
    ATOMMIC's reference config (64 channels, 4 pools) gives 31,024,386 parameters here too.
    """

    def build_networks(self) -> None:
        """Build the NormUnet."""
        c = self.cfg
        self.net = NormUnet(int(c.get("channels", 64)), int(c.get("pooling_layers", 4)),
                            float(c.get("dropout", 0.0)), bool(c.get("normalize", True)),
                            phase_equivariant=bool(c.get("phase_equivariant", False)))

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[U(x0)]`` for the initial image ``x0``."""
        return [self.net(batch["initial_image"])]
