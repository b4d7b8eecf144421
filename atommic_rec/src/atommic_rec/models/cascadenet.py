"""CascadeNet model.

Reference: J. Schlemper et al., "A Deep Cascade of Convolutional Neural Networks for Dynamic
MR Image Reconstruction", IEEE TMI 37(2), 2018, arXiv:1704.02422.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.cascadenet import CascadeNetNet

__all__ = ["CascadeNet"]


class CascadeNet(ReconstructionModel):
    """Cascades of residual CNNs, each followed by (learned-weight) data consistency.

    Config: ``num_cascades`` (10), ``hidden_channels`` (64), ``n_convs`` (5), ``batchnorm``
    (False), ``no_dc`` (False). ATOMMIC's reference (10, 64, 5) gives 1,131,551 parameters
    here too.
    """

    def build_networks(self) -> None:
        """Build the cascades."""
        c = self.cfg
        self.net = CascadeNetNet(
            num_cascades=int(c.get("num_cascades", 10)),
            hidden_channels=int(c.get("hidden_channels", 64)), n_convs=int(c.get("n_convs", 5)),
            batchnorm=bool(c.get("batchnorm", False)), no_dc=bool(c.get("no_dc", False)),
            fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x]`` the image after the last cascade."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
