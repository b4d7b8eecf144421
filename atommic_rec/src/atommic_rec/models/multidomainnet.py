"""MultiDomainNet model (a U-Net of image- and k-space convolutions on every coil image)."""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.multidomain import MultiDomainNetNet

__all__ = ["MultiDomainNet"]


class MultiDomainNet(ReconstructionModel):
    """A multi-domain U-Net on the coil images, SENSE-combined; no data consistency.

    Config (ATOMMIC's key names): ``num_filters`` (64), ``num_pool_layers`` (2),
    ``dropout_probability`` (0.0), ``standardization`` (True), ``residual`` (False: as ATOMMIC;
    True: correct the zero-filled coil images, starting at zero-filled SENSE; the demo config
    pairs it with ``standardization: false``, see ``MultiDomainNetNet``). ATOMMIC's
    reference (64, 2, standardization) gives 1,862,018 parameters here too.
    """

    def build_networks(self) -> None:
        """Build the multi-domain U-Net."""
        c = self.cfg
        self.net = MultiDomainNetNet(
            num_filters=int(c.get("num_filters", 64)), num_pools=int(c.get("num_pool_layers", 2)),
            drop_prob=float(c.get("dropout_probability", 0.0)),
            standardization=bool(c.get("standardization", True)), fft_kw=self.fft_kw,
            residual=bool(c.get("residual", False)))

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x]`` the SENSE-combined network output."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
