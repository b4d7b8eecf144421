"""qVarNet model (Zhang et al., NeuroImage 264 (2022) 119680)."""

from __future__ import annotations

from typing import Any

import torch

from atommic_qi.models.base import QuantitativeModel
from atommic_qi.nets import QVarNetNet

__all__ = ["qVarNet"]


class qVarNet(QuantitativeModel):  # noqa: N801 - ATOMMIC's model name
    """Unrolled gradient steps on the maps with U-Net regularisers (see :class:`QVarNetNet`).

    Config: ``num_cascades`` (8), ``channels`` (18), ``pooling_layers`` (4), ``no_dc``
    (False), ``zero_init`` (False: zero each U-Net's last convolution, so a cascade starts
    as a learned-step gradient descent). The loss weighs every cascade's output
    (``intermediate_loss_weighting``).
    """

    def build_networks(self) -> None:
        """Build the cascades."""
        c = self.cfg
        self.net = QVarNetNet(num_cascades=int(c.get("num_cascades", 8)),
                              chans=int(c.get("channels", 18)),
                              num_pools=int(c.get("pooling_layers", 4)),
                              no_dc=bool(c.get("no_dc", False)),
                              zero_init=bool(c.get("zero_init", False)),
                              signal_model=self.signal_model, scales=self.map_scales,
                              fft_kw=self.fft_kw, ranges=self.map_ranges)

    def refine(self, maps: torch.Tensor, batch: dict[str, Any]) -> list[torch.Tensor]:
        """The maps after every cascade."""
        return self.net(maps, batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"],
                        batch["TEs"], self.sigma)
