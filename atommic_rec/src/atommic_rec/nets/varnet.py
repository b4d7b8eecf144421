"""End-to-end variational network (Sriram et al., MICCAI 2020, arXiv:2004.06688)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64, soft_data_consistency
from atommic_rec.nets.sensitivity import SensitivityNet
from atommic_rec.nets.unet import NormUnet
from atommic_rec.physics import fft2, ifft2, sense_expand, sense_reduce

__all__ = ["VarNetBlock", "VarNetNet"]


class VarNetBlock(nn.Module):
    """One cascade: ``k <- k - w * M (k - y) - F S R(S^H F^-1 k)`` with a NormUnet ``R``.

    Args:
        chans: NormUnet channels.
        num_pools: NormUnet pooling levels.
        no_dc: Drop the soft data-consistency term.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        zero_init: Zero the NormUnet's last convolution (see :class:`NormUnet`).
        phase_equivariant: Make the NormUnet exactly equivariant to a global phase.
    """

    def __init__(self, chans: int = 18, num_pools: int = 4, no_dc: bool = False,
                 fft_kw: dict[str, Any] | None = None, zero_init: bool = False,
                 phase_equivariant: bool = False) -> None:
        super().__init__()
        self.model = NormUnet(chans, num_pools, zero_init=zero_init,
                              phase_equivariant=phase_equivariant)
        self.dc_weight = nn.Parameter(torch.ones(1))
        self.no_dc = no_dc
        self.fft_kw = dict(fft_kw or {})

    def forward(self, kspace: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Update the k-space estimate, complex64 [B, C, H, W] -> complex64 [B, C, H, W]."""
        image = sense_reduce(ifft2(kspace, **self.fft_kw), sensitivity_maps)
        refined = at_least_complex64(self.model(image))
        out = kspace - fft2(sense_expand(refined, sensitivity_maps), **self.fft_kw)
        if not self.no_dc:
            out = out - soft_data_consistency(kspace, masked_kspace, mask, self.dc_weight)
        return out


class VarNetNet(nn.Module):
    """Cascades of :class:`VarNetBlock`, optionally with learned coil maps.

    Args:
        num_cascades: Number of cascades.
        chans: NormUnet channels of each cascade.
        num_pools: NormUnet pooling levels.
        no_dc: Drop the soft data-consistency terms.
        use_sens_net: Estimate the coil maps with a :class:`SensitivityNet` from the
            auto-calibration lines instead of using the given ones.
        sens_chans: Channels of the sensitivity network.
        sens_pools: Pooling levels of the sensitivity network.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        zero_init: Zero the last convolution of every cascade's NormUnet (faster start of
            short trainings; the default random init matches fastMRI/ATOMMIC).
        phase_equivariant: Phase-equivariant NormUnets (see :class:`NormUnet`): with the
            given maps the whole network then satisfies
            ``net(e^{i phi} y, S, M) = e^{i phi} net(y, S, M)``.

    Example:
        >>> net = VarNetNet(num_cascades=1, chans=4, num_pools=2)
        >>> k = torch.zeros(1, 2, 16, 16, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 16, 16, dtype=torch.complex64) / 2**0.5
        >>> net(k, s, torch.ones(1, 1, 1, 16)).shape
        torch.Size([1, 16, 16])
    """

    def __init__(self, num_cascades: int = 8, chans: int = 18, num_pools: int = 4,
                 no_dc: bool = False, use_sens_net: bool = False, sens_chans: int = 8,
                 sens_pools: int = 4, fft_kw: dict[str, Any] | None = None,
                 zero_init: bool = False, phase_equivariant: bool = False) -> None:
        super().__init__()
        self.fft_kw = dict(fft_kw or {})
        self.cascades = nn.ModuleList(
            VarNetBlock(chans, num_pools, no_dc, self.fft_kw, zero_init, phase_equivariant)
            for _ in range(num_cascades))
        self.sens_net = (SensitivityNet(sens_chans, sens_pools, fft_kw=self.fft_kw)
                         if use_sens_net else None)

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct the coil-combined image.

        Args:
            masked_kspace: Measured k-space, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps, complex64 [B, C, H, W] (ignored with a sens net).
            mask: Sampling mask, float, broadcastable to [B, C, H, W].

        Returns:
            The SENSE-combined image, complex64 [B, H, W].
        """
        masked_kspace = at_least_complex64(masked_kspace)
        if self.sens_net is not None:
            sensitivity_maps = self.sens_net(masked_kspace, mask)
        kspace = masked_kspace
        for cascade in self.cascades:
            kspace = cascade(kspace, masked_kspace, sensitivity_maps, mask)
        return sense_reduce(ifft2(kspace, **self.fft_kw), sensitivity_maps)
