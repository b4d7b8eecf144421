"""LPDNet model.

Reference: J. Adler and O. Oktem, "Learned Primal-Dual Reconstruction", IEEE TMI 37(6), 2018,
arXiv:1707.06474.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.lpdnet import build_lpdnet

__all__ = ["LPDNet"]


class LPDNet(ReconstructionModel):
    """Learned primal-dual iterations with NormUnet primal and (per-coil) dual networks.

    Config (ATOMMIC's key names): ``num_iter`` (5), ``num_primal`` (5), ``num_dual`` (5),
    ``primal_unet_num_filters`` (16), ``primal_unet_num_pool_layers`` (2),
    ``dual_unet_num_filters`` (16), ``dual_unet_num_pool_layers`` (2), ``share_weights``
    (False: one network pair per iteration as in the paper; True: one pair for all, as
    ATOMMIC), ``zero_init`` (False; True: every update is scaled by a learned gate
    starting at zero, so training starts at zero-filled SENSE). ATOMMIC's reference
    (5, 5, 5, 16/2, 16/2, shared) gives 236,532 parameters here too.
    """

    def build_networks(self) -> None:
        """Build the primal-dual network."""
        c = self.cfg
        self.net = build_lpdnet(
            num_iter=int(c.get("num_iter", 5)), num_primal=int(c.get("num_primal", 5)),
            num_dual=int(c.get("num_dual", 5)),
            primal_chans=int(c.get("primal_unet_num_filters", 16)),
            primal_pools=int(c.get("primal_unet_num_pool_layers", 2)),
            dual_chans=int(c.get("dual_unet_num_filters", 16)),
            dual_pools=int(c.get("dual_unet_num_pool_layers", 2)),
            share_weights=bool(c.get("share_weights", False)), fft_kw=self.fft_kw,
            zero_init=bool(c.get("zero_init", False)))

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[f[0]]`` the first primal channel after the last iteration."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
