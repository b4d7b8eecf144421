"""VS-Net: variable splitting network (Duan et al., MICCAI 2019, arXiv:1907.10033)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.complex_channels import ComplexChannelNet, ConvStack
from atommic_rec.nets.modl import PositiveScalar
from atommic_rec.nets.unrolled import ImageUnrolledNet
from atommic_rec.physics import fft2, ifft2, sense_expand, sense_reduce

__all__ = ["VSNetNet", "variable_splitting_step"]


def variable_splitting_step(image: torch.Tensor, denoised: torch.Tensor,
                            masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                            mask: torch.Tensor, lam: torch.Tensor, beta: torch.Tensor,
                            **fft_kw: Any) -> torch.Tensor:
    """VS-Net's data-consistency and weighted-average blocks (the ``u`` and ``x`` updates).

    With ``lam = lambda / alpha`` and ``beta = beta / alpha`` of the paper::

        u_c = F^-1[(lam M y_c + F S_c x) / (1 + lam M)]        (pointwise in k-space)
        x'  = (beta z + sum_c S_c^H u_c) / (beta + sum_c |S_c|^2)    (pointwise in image)

    Args:
        image: Previous estimate ``x``, complex64 [B, H, W].
        denoised: Denoiser output ``z``, complex64 [B, H, W].
        masked_kspace: ``y``, complex64 [B, C, H, W].
        sensitivity_maps: ``S``, complex64 [B, C, H, W].
        mask: ``M`` (0/1), float, broadcastable to [B, C, H, W].
        lam: Data weight ``lambda / alpha`` (> 0), float [1].
        beta: Prior weight ``beta / alpha`` (> 0), float [1].
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims`` of the FFT.

    Returns:
        The new estimate ``x'``, complex64 [B, H, W].
    """
    predicted = fft2(sense_expand(image, sensitivity_maps), **fft_kw)
    kspace = (lam * mask * masked_kspace + predicted) / (1 + lam * mask)
    coil_sum = sense_reduce(ifft2(kspace, **fft_kw), sensitivity_maps)
    energy = (sensitivity_maps.abs() ** 2).sum(-3)
    return (beta * denoised + coil_sum) / (beta + energy)


class VSNetNet(ImageUnrolledNet):
    """Stages of denoiser, data consistency and weighted average (VS-Net).

    VS-Net splits ``min_x lambda/2 sum_c ||M F u_c - y_c||^2 + R(z)`` with the constraints
    ``u_c = S_c x`` and ``z = x`` (penalties ``alpha`` and ``beta``) and alternates, from
    ``x_0 = A^H y``::

        z_k = x_{k-1} + CNN_k(x_{k-1})                                (denoiser block)
        x_k = variable_splitting_step(x_{k-1}, z_k, y, S, M, lam_k, beta_k)   (DC + WA blocks)

    Args:
        num_cascades: Number of stages.
        hidden_channels: Channels of each stage's
            :class:`~atommic_rec.nets.complex_channels.ConvStack` (one PReLU slope per stack).
        n_convs: Convolutions per stage.
        batchnorm: Batch normalisation in the CNNs.
        shared_params: One CNN and one ``(lam, beta)`` for all stages (what ATOMMIC 1.0.1
            builds with ``ModuleList([m] * n)``); False gives each stage its own (the paper).
        lam: Initial ``lam`` (learned).
        beta: Initial ``beta`` (learned).
        phase_equivariant: Remove and restore the global phase of ``A^H y``.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = VSNetNet(num_cascades=2, hidden_channels=4, n_convs=2)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(y, torch.ones_like(y) / 2**0.5, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_cascades: int = 10, hidden_channels: int = 64, n_convs: int = 4,
                 batchnorm: bool = False, shared_params: bool = False, lam: float = 1.0,
                 beta: float = 1.0, phase_equivariant: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__(phase_equivariant, fft_kw)
        if num_cascades < 1:
            raise ValueError(f"VSNetNet: expected num_cascades >= 1, found {num_cascades}")
        distinct = 1 if shared_params else num_cascades
        self.denoisers = nn.ModuleList(
            ComplexChannelNet(ConvStack(2, 2, hidden_channels, n_convs, nn.PReLU(), batchnorm))
            for _ in range(distinct))
        self.lams = nn.ModuleList(PositiveScalar(lam) for _ in range(distinct))
        self.betas = nn.ModuleList(PositiveScalar(beta) for _ in range(distinct))
        self.num_cascades = num_cascades

    def iterate(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The stages from ``x_0 = image``, complex64 [B, H, W]."""
        x = image
        for k in range(self.num_cascades):
            i = k % len(self.denoisers)
            z = x + self.denoisers[i](x.unsqueeze(1)).squeeze(1)
            x = variable_splitting_step(x, z, masked_kspace, sensitivity_maps, mask,
                                        self.lams[i](), self.betas[i](), **self.fft_kw)
        return x
