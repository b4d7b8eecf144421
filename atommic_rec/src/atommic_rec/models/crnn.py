"""CRNNet model.

Reference: C. Qin et al., "Convolutional Recurrent Neural Networks for Dynamic MR Image
Reconstruction", IEEE TMI 38(1), 2019, arXiv:1712.01751.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.crnn import CRNNetNet

__all__ = ["CRNNet"]


class CRNNet(ReconstructionModel):
    """A convolutional GRU block unrolled over iterations with data consistency.

    Config: ``num_iterations`` (10), ``hidden_channels`` (64), ``n_convs`` (3), ``no_dc``
    (False). The loss weighs every iteration (``intermediate_loss_weighting``). ATOMMIC's
    reference (10, 64, 3) gives 225,793 parameters here too.
    """

    def build_networks(self) -> None:
        """Build the recurrent block."""
        c = self.cfg
        self.net = CRNNetNet(
            num_iterations=int(c.get("num_iterations", 10)),
            hidden_channels=int(c.get("hidden_channels", 64)), n_convs=int(c.get("n_convs", 3)),
            no_dc=bool(c.get("no_dc", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Every iteration's image, in order; the last is the reconstruction."""
        return self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])
