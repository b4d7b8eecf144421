"""JointICNet model.

Reference: Y. Jun, H. Shin, T. Eo and D. Hwang, "Joint Deep Model-based MR Image and Coil
Sensitivity Reconstruction Network (Joint-ICNet) for Fast MRI", CVPR 2021, 5270-5279.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.jointicnet import JointICNetNet

__all__ = ["JointICNet"]


class JointICNet(ReconstructionModel):
    """Joint image and coil-sensitivity gradient steps with image/k-space NormUnet priors.

    The coil maps are estimated from the auto-calibration lines by a learned
    :class:`~atommic_rec.nets.SensitivityNet` and refined with the image; the batch's
    ``sensitivity_maps`` are not used. Config (ATOMMIC's keys): ``num_iter`` (2),
    ``kspace_unet_num_filters`` (16), ``kspace_unet_num_pool_layers`` (2),
    ``imspace_unet_num_filters`` (16), ``imspace_unet_num_pool_layers`` (2),
    ``sens_unet_num_filters`` (16), ``sens_unet_num_pool_layers`` (2), ``step_init`` (1.0),
    ``reg_init`` (1.0).
    ATOMMIC's reference (2 iterations, three 16-channel 2-level U-Nets) has 349,654
    parameters in both toolkits. See :class:`~atommic_rec.nets.jointicnet.JointICNetNet`.
    """

    def build_networks(self) -> None:
        """Build the network."""
        c = self.cfg
        self.net = JointICNetNet(
            num_iter=int(c.get("num_iter", 2)),
            kspace_chans=int(c.get("kspace_unet_num_filters", 16)),
            kspace_pools=int(c.get("kspace_unet_num_pool_layers", 2)),
            image_chans=int(c.get("imspace_unet_num_filters", 16)),
            image_pools=int(c.get("imspace_unet_num_pool_layers", 2)),
            sens_chans=int(c.get("sens_unet_num_filters", 16)),
            sens_pools=int(c.get("sens_unet_num_pool_layers", 2)),
            step_init=float(c.get("step_init", 1.0)), reg_init=float(c.get("reg_init", 1.0)),
            fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x_K]``, the last image estimate."""
        return [self.net(batch["masked_kspace"], batch["mask"])]
