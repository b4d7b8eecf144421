"""ProximalGradient model (unrolled proximal gradient descent).

References: P. L. Combettes and V. R. Wajs, "Signal recovery by proximal forward-backward
splitting", Multiscale Model. Simul. 4(4) 1168-1200, 2005; J. Zhang and B. Ghanem,
"ISTA-Net", CVPR 2018, arXiv:1706.07929.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets.proximal_gradient import ProximalGradientNet

__all__ = ["ProximalGradient"]


class ProximalGradient(ReconstructionModel):
    """Unrolled proximal gradient with a Tikhonov or a learned CNN proximal operator.

    Config: ``unrolled_iterations`` (10; ATOMMIC's ``conjugate_gradient_iterations`` is read
    when it is absent), ``proximal_operator`` (``tikhonov`` or ``cnn``),
    ``penalization_weight`` (0.05, initial ``mu`` of tikhonov), ``step_size`` (1.0),
    ``channels`` (64), ``residual_blocks`` (5), ``shared_params`` (True), ``zero_init``
    (False), ``phase_equivariant`` (False). ATOMMIC's reference (tikhonov, one learned
    ``mu``) has 1 parameter in both toolkits. See
    :class:`~atommic_rec.nets.proximal_gradient.ProximalGradientNet` for the update.
    """

    def build_networks(self) -> None:
        """Build the unrolled iterations."""
        c = self.cfg
        iterations = c.get("unrolled_iterations", c.get("conjugate_gradient_iterations", 10))
        self.net = ProximalGradientNet(
            iterations=int(iterations),
            proximal_operator=str(c.get("proximal_operator", "tikhonov")).lower(),
            mu=float(c.get("penalization_weight", 0.05)),
            step_size=float(c.get("step_size", 1.0)), channels=int(c.get("channels", 64)),
            blocks=int(c.get("residual_blocks", 5)),
            shared_params=bool(c.get("shared_params", True)),
            zero_init=bool(c.get("zero_init", False)),
            phase_equivariant=bool(c.get("phase_equivariant", False)), fft_kw=self.fft_kw)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[x_K]``, the last iterate."""
        return [self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])]
