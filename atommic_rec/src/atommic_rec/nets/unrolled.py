"""Base of the image-domain unrolled networks: start at ``A^H y``, iterate, return the image.

MoDL, VSNet, ProximalGradient and DUNet share this frame; each implements :meth:`iterate`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.phase import remove_global_phase
from atommic_rec.physics import adjoint_operator

__all__ = ["ImageUnrolledNet"]


class ImageUnrolledNet(nn.Module):
    """``x_0 = A^H y`` (``A = M F S``), then :meth:`iterate`; optionally phase equivariant.

    Args:
        phase_equivariant: Remove the global phase of ``A^H y`` from the data first and
            restore it at the end (see :func:`~atommic_rec.nets.phase.remove_global_phase`);
            the network is then exactly equivariant to a global phase of the data.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
    """

    def __init__(self, phase_equivariant: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.phase_equivariant = bool(phase_equivariant)
        self.fft_kw = dict(fft_kw or {})

    def iterate(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Iterate from ``x_0 = image`` (subclasses implement; arguments as in forward)."""
        raise NotImplementedError

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            masked_kspace: Measured k-space ``y``, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps ``S``, complex64 [B, C, H, W].
            mask: Sampling mask ``M`` (0/1), float, broadcastable to [B, C, H, W].

        Returns:
            The last iterate, complex64 [B, H, W].
        """
        masked_kspace = at_least_complex64(masked_kspace)
        x = adjoint_operator(masked_kspace, sensitivity_maps, mask, **self.fft_kw)
        rotation = None
        if self.phase_equivariant:
            x, masked_kspace, rotation = remove_global_phase(x, masked_kspace)
        x = self.iterate(x, masked_kspace, sensitivity_maps, mask)
        return x if rotation is None else x * rotation
