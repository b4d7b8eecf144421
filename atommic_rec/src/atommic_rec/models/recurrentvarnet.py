"""RecurrentVarNet model.

Reference: G. Yiasemis, J.-J. Sonke, C. Sanchez and J. Teuwen, "Recurrent Variational
Network: A Deep Learning Inverse Problem Solver applied to the task of Accelerated MRI
Reconstruction", CVPR 2022, 732-741, arXiv:2111.09639.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.recurrentvarnet import RecurrentVarNetNet

__all__ = ["RecurrentVarNet"]


class RecurrentVarNet(ReconstructionModel):
    """Recurrent k-space gradient steps with ConvGRU image-domain terms (RecurrentVarNet).

    Config (ATOMMIC's keys): ``num_steps`` (8), ``recurrent_hidden_channels`` (64),
    ``recurrent_num_layers`` (4), ``no_parameter_sharing`` (True), ``learned_initializer``
    (True: hidden states from the SENSE image ``A^H y``), ``initializer_channels``
    ([32, 32, 64, 64]), ``initializer_dilations`` ([1, 1, 2, 4]), ``initializer_multiscale``
    (1), ``phase_equivariant`` (False). ATOMMIC 1.0.1 rounds ``num_steps`` up to a multiple
    of 8; here it is used as given. ATOMMIC's reference (8 steps, 64 channels, 4 layers)
    has 1,796,120 parameters in both toolkits. See
    :class:`~atommic_rec.nets.recurrentvarnet.RecurrentVarNetNet`.
    """

    def build_networks(self) -> None:
        """Build the recurrent steps."""
        c = self.cfg
        self.net = RecurrentVarNetNet(
            num_steps=int(c.get("num_steps", 8)),
            hidden_channels=int(c.get("recurrent_hidden_channels", 64)),
            num_layers=int(c.get("recurrent_num_layers", 4)),
            no_parameter_sharing=bool(c.get("no_parameter_sharing", True)),
            learned_initializer=bool(c.get("learned_initializer", True)),
            initializer_channels=tuple(c.get("initializer_channels", (32, 32, 64, 64))),
            initializer_dilations=tuple(c.get("initializer_dilations", (1, 1, 2, 4))),
            initializer_multiscale=int(c.get("initializer_multiscale", 1)),
            phase_equivariant=bool(c.get("phase_equivariant", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[S^H F^-1 k_T]``, the image of the last k-space estimate."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
