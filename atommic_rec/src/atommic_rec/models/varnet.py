"""E2E VarNet model.

Reference: A. Sriram et al., "End-to-End Variational Networks for Accelerated MRI
Reconstruction", MICCAI 2020, arXiv:2004.06688.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets import VarNetNet

__all__ = ["VarNet"]


class VarNet(ReconstructionModel):
    """Unrolled k-space cascades with NormUnet regularisers and soft data consistency.

    Config: ``num_cascades`` (8), ``channels`` (18), ``pooling_layers`` (4), ``no_dc``
    (False), ``use_sens_net`` (False: learned coil maps from the auto-calibration lines),
    ``sens_chans`` (8), ``sens_pools`` (4), ``zero_init`` (False: zero each NormUnet's last
    convolution, which speeds up short trainings such as the demo), ``phase_equivariant``
    (False: exact equivariance to a global phase of the data, see
    :class:`~atommic_rec.nets.NormUnet`). ATOMMIC's reference (8, 18, 4) gives 19,634,712
    parameters here too.
    """

    def build_networks(self) -> None:
        """Build the cascades."""
        c = self.cfg
        self.net = VarNetNet(
            num_cascades=int(c.get("num_cascades", 8)), chans=int(c.get("channels", 18)),
            num_pools=int(c.get("pooling_layers", 4)), no_dc=bool(c.get("no_dc", False)),
            use_sens_net=bool(c.get("use_sens_net", False)),
            sens_chans=int(c.get("sens_chans", 8)), sens_pools=int(c.get("sens_pools", 4)),
            fft_kw=self.fft_kw, zero_init=bool(c.get("zero_init", False)),
            phase_equivariant=bool(c.get("phase_equivariant", False)))

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x]`` the SENSE-combined image after the last cascade."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
