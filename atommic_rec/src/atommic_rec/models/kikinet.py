"""KIKINet model.

Reference: T. Eo et al., "KIKI-net: cross-domain convolutional neural networks for
reconstructing undersampled magnetic resonance images", MRM 80(5), 2018, doi:10.1002/mrm.27201.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.kikinet import KIKINetNet

__all__ = ["KIKINet"]


class KIKINet(ReconstructionModel):
    """Alternating k-space and image NormUnets with interleaved data consistency.

    Config: ``num_iter`` (2), ``kspace_unet_num_filters`` (16),
    ``kspace_unet_num_pool_layers`` (2), ``imspace_unet_num_filters`` (16),
    ``imspace_unet_num_pool_layers`` (2) (ATOMMIC's key names), ``share_weights`` (False: one
    network pair per block as in the paper; True: one pair for all blocks, as ATOMMIC),
    ``no_dc`` (False), ``zero_init`` (False), ``phase_equivariant`` (False). ATOMMIC's
    reference (2 blocks, 16 filters, 2 pools, shared) gives 233,093 parameters here too.
    """

    def build_networks(self) -> None:
        """Build the k-space and image networks."""
        c = self.cfg
        self.net = KIKINetNet(
            num_iter=int(c.get("num_iter", 2)),
            kspace_chans=int(c.get("kspace_unet_num_filters", 16)),
            kspace_pools=int(c.get("kspace_unet_num_pool_layers", 2)),
            image_chans=int(c.get("imspace_unet_num_filters", 16)),
            image_pools=int(c.get("imspace_unet_num_pool_layers", 2)),
            share_weights=bool(c.get("share_weights", False)), no_dc=bool(c.get("no_dc", False)),
            fft_kw=self.fft_kw, zero_init=bool(c.get("zero_init", False)),
            phase_equivariant=bool(c.get("phase_equivariant", False)))

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x]`` the image after the last block."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
