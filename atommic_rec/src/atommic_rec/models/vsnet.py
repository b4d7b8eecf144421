"""VSNet model.

Reference: J. Duan et al., "VS-Net: Variable Splitting Network for Accelerated Parallel MRI
Reconstruction", MICCAI 2019, LNCS 11767, 713-722, arXiv:1907.10033.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.vsnet import VSNetNet

__all__ = ["VSNet"]


class VSNet(ReconstructionModel):
    """Variable splitting: CNN denoiser, k-space data consistency, image weighted average.

    Config (ATOMMIC's keys): ``num_cascades`` (10), ``imspace_conv_hidden_channels`` (64),
    ``imspace_conv_n_convs`` (4), ``imspace_conv_batchnorm`` (False), ``shared_params``
    (False: each stage has its own CNN and weights, as in the paper; True: one set for all
    stages, which is what ATOMMIC 1.0.1 builds), ``data_consistency_lambda_init`` (1.0),
    ``weighted_average_beta_init`` (1.0), ``phase_equivariant`` (False). ATOMMIC's reference
    (10 stages, 64 channels, 4 convolutions, one shared set) has 76,229 parameters in both
    toolkits. See :class:`~atommic_rec.nets.vsnet.VSNetNet` for the update.
    """

    def build_networks(self) -> None:
        """Build the stages."""
        c = self.cfg
        architecture = str(c.get("imspace_model_architecture", "CONV")).upper()
        if architecture != "CONV":
            raise ValueError(f"VSNet: expected model.imspace_model_architecture CONV, found "
                             f"{architecture}; hint: the CNN denoiser is the one implemented")
        self.net = VSNetNet(
            num_cascades=int(c.get("num_cascades", 10)),
            hidden_channels=int(c.get("imspace_conv_hidden_channels", 64)),
            n_convs=int(c.get("imspace_conv_n_convs", 4)),
            batchnorm=bool(c.get("imspace_conv_batchnorm", False)),
            shared_params=bool(c.get("shared_params", False)),
            lam=float(c.get("data_consistency_lambda_init", 1.0)),
            beta=float(c.get("weighted_average_beta_init", 1.0)),
            phase_equivariant=bool(c.get("phase_equivariant", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x_K]``, the last stage's estimate."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
