"""XPDNet model.

Reference: Z. Ramzi, P. Ciuciu and J.-L. Starck, "XPDNet for MRI Reconstruction: an
application to the 2020 fastMRI challenge", arXiv:2010.07290, 2020.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.xpdnet import build_xpdnet

__all__ = ["XPDNet"]


class XPDNet(ReconstructionModel):
    """Cross-domain primal-dual iterations with MWCNN primal networks.

    Config (ATOMMIC's key names): ``num_iter`` (10), ``num_primal`` (5), ``num_dual`` (1),
    ``use_primal_only`` (True: the dual step is the data residual), ``dual_conv_hidden_channels``
    (16), ``dual_conv_num_dubs`` (2), ``dual_conv_batchnorm`` (False),
    ``mwcnn_hidden_channels`` (16), ``mwcnn_num_scales`` (0), ``mwcnn_bias`` (True),
    ``mwcnn_batchnorm`` (False). ATOMMIC's reference (10 iterations, 5 primal, primal only,
    MWCNN with 0 scales) gives 10,900 parameters here too.
    """

    def build_networks(self) -> None:
        """Build the primal-dual network."""
        c = self.cfg
        self.net = build_xpdnet(
            num_iter=int(c.get("num_iter", 10)), num_primal=int(c.get("num_primal", 5)),
            num_dual=int(c.get("num_dual", 1)), primal_only=bool(c.get("use_primal_only", True)),
            dual_hidden=int(c.get("dual_conv_hidden_channels", 16)),
            dual_convs=int(c.get("dual_conv_num_dubs", 2)),
            dual_batchnorm=bool(c.get("dual_conv_batchnorm", False)),
            mwcnn_hidden=int(c.get("mwcnn_hidden_channels", 16)),
            mwcnn_scales=int(c.get("mwcnn_num_scales", 0)),
            mwcnn_bias=bool(c.get("mwcnn_bias", True)),
            mwcnn_batchnorm=bool(c.get("mwcnn_batchnorm", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[f[0]]`` the first primal channel after the last iteration."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
