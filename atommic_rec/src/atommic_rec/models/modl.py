"""MoDL model.

Reference: H. K. Aggarwal, M. P. Mani and M. Jacob, "MoDL: Model-Based Deep Learning
Architecture for Inverse Problems", IEEE Trans. Med. Imaging 38(2) 394-405, 2019,
arXiv:1712.02862.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.modl import MoDLNet

__all__ = ["MoDL"]


class MoDL(ReconstructionModel):
    """A shared residual-CNN denoiser alternated with conjugate-gradient data consistency.

    Config (ATOMMIC's keys): ``unrolled_iterations`` (5), ``residual_blocks`` (5), ``channels``
    (64), ``regularization_factor`` (0.1, residual scaling), ``conjugate_gradient_dc`` (True),
    ``conjugate_gradient_iterations`` (10), ``penalization_weight`` (1.0, initial ``mu``),
    ``zero_init`` (False: the denoiser starts as the identity), ``phase_equivariant`` (False).
    ATOMMIC's reference size (5 iterations, 5 blocks, 64 channels, with CG) has 407,809
    parameters in both toolkits. See :class:`~atommic_rec.nets.modl.MoDLNet` for the update.
    """

    def build_networks(self) -> None:
        """Build the MoDL network."""
        c = self.cfg
        self.net = MoDLNet(
            iterations=int(c.get("unrolled_iterations", 5)),
            blocks=int(c.get("residual_blocks", 5)), channels=int(c.get("channels", 64)),
            scale=float(c.get("regularization_factor", 0.1)),
            dc=bool(c.get("conjugate_gradient_dc", True)),
            cg_iterations=int(c.get("conjugate_gradient_iterations", 10)),
            mu=float(c.get("penalization_weight", 1.0)),
            zero_init=bool(c.get("zero_init", False)),
            phase_equivariant=bool(c.get("phase_equivariant", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x_K]``, the last iterate."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
