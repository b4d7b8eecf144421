"""DUNet model (down-up network with the systematic data-consistency variants).

Reference: K. Hammernik et al., "Systematic evaluation of iterative deep neural networks for
fast parallel MRI reconstruction with sensitivity-weighted coil combination", Magn. Reson.
Med. 86(4) 1859-1872, 2021, arXiv:2007.05232. Regulariser: S. Yu, B. Park and J. Jeong,
"Deep iterative down-up CNN for image denoising", CVPR Workshops 2019.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.dunet import DUNetNet

__all__ = ["DUNet"]


class DUNet(ReconstructionModel):
    """Iterations of a DIDN regulariser step and a GD, PROX, VS or ID data-consistency layer.

    Config (ATOMMIC's keys): ``num_iter`` (10), ``reg_model_architecture`` (``DIDN``),
    ``didn_hidden_channels`` (64), ``didn_num_dubs`` (2), ``didn_num_convs_recon`` (1),
    ``data_consistency_term`` (``VS``; or ``GD``, ``PROX``, ``ID``),
    ``data_consistency_lambda_init`` (0.1, GD/PROX), ``data_consistency_alpha_init`` and
    ``data_consistency_beta_init`` (1.0, VS), ``data_consistency_iterations`` (10, PROX's CG
    steps), ``shared_params`` (True: one regulariser and DC layer for all iterations, which is
    what ATOMMIC 1.0.1 builds even with ``shared_params: false``), ``phase_equivariant``
    (False), ``zero_init`` (False: the regularisers start at zero, so the network starts as
    its data-consistency steps). ATOMMIC's reference (10 iterations, DIDN 64 channels, 2
    blocks, VS) has 3,279,698 parameters in both toolkits. See
    :class:`~atommic_rec.nets.dunet.DUNetNet`.
    """

    def build_networks(self) -> None:
        """Build the iterations."""
        c = self.cfg
        architecture = str(c.get("reg_model_architecture", "DIDN")).upper()
        if architecture != "DIDN":
            raise ValueError(f"DUNet: expected model.reg_model_architecture DIDN, found "
                             f"{architecture}; hint: the DIDN regulariser is the one implemented")
        dc_kwargs = {"lam": float(c.get("data_consistency_lambda_init", 0.1)),
                     "alpha": float(c.get("data_consistency_alpha_init", 1.0)),
                     "beta": float(c.get("data_consistency_beta_init", 1.0)),
                     "iterations": int(c.get("data_consistency_iterations", 10))}
        self.net = DUNetNet(
            num_iter=int(c.get("num_iter", 10)),
            hidden_channels=int(c.get("didn_hidden_channels", 64)),
            num_dubs=int(c.get("didn_num_dubs", 2)),
            num_convs_recon=int(c.get("didn_num_convs_recon", 1)),
            data_consistency=str(c.get("data_consistency_term", "VS")),
            shared_params=bool(c.get("shared_params", True)), dc_kwargs=dc_kwargs,
            zero_init=bool(c.get("zero_init", False)),
            phase_equivariant=bool(c.get("phase_equivariant", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x_T]``, the last iterate."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
