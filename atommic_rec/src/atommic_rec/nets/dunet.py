"""Down-up network with the systematic data-consistency variants (Hammernik et al., MRM 2021).

Reference: K. Hammernik, J. Schlemper, C. Qin, J. Duan, R. M. Summers and D. Rueckert,
"Systematic evaluation of iterative deep neural networks for fast parallel MRI reconstruction
with sensitivity-weighted coil combination", Magn. Reson. Med. 86(4) 1859-1872, 2021,
arXiv:2007.05232.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.conjugate_gradient import solve_regularised_sense
from atommic_rec.nets.consistency import log_likelihood_gradient
from atommic_rec.nets.didn import DIDN
from atommic_rec.nets.modl import PositiveScalar
from atommic_rec.nets.unrolled import ImageUnrolledNet
from atommic_rec.physics import (
    channels_to_complex,
    complex_to_channels,
    fft2,
    ifft2,
    sense_expand,
    sense_reduce,
)

__all__ = ["DATA_CONSISTENCY", "DUNetNet", "build_data_consistency"]


class GradientDC(nn.Module):
    """``GD``: one gradient step on the data term, ``x - lam A^H (A x - y)`` (``lam > 0``)."""

    def __init__(self, lam: float, fft_kw: dict[str, Any]) -> None:
        super().__init__()
        self.lam = PositiveScalar(lam)
        self.fft_kw = fft_kw

    def forward(self, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Image complex64 [B, H, W] -> complex64 [B, H, W]."""
        return x - self.lam() * log_likelihood_gradient(x, y, maps, mask, **self.fft_kw)


class ProximalDC(nn.Module):
    """``PROX``: the proximal map ``argmin_u lam/2 ||A u - y||^2 + 1/2 ||u - x||^2``.

    That is ``(I + lam A^H A) u = x + lam A^H y``, solved by differentiable CG.
    """

    def __init__(self, lam: float, iterations: int, fft_kw: dict[str, Any]) -> None:
        super().__init__()
        self.lam = PositiveScalar(lam)
        self.iterations = iterations
        self.fft_kw = fft_kw

    def forward(self, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Image complex64 [B, H, W] -> complex64 [B, H, W]."""
        return solve_regularised_sense(y, maps, mask, 1 / self.lam(), x, self.iterations,
                                       **self.fft_kw)


class VariableSplittingDC(nn.Module):
    """``VS``: mix predicted and measured k-space, then the image with its consistent version.

    ``k = (1 - M) F S x + M (alpha F S x + (1 - alpha) y)`` and
    ``x' = beta x + (1 - beta) S^H F^-1 k`` (learned ``alpha``, ``beta``).
    """

    def __init__(self, alpha: float, beta: float, fft_kw: dict[str, Any]) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor([float(alpha)]))
        self.beta = nn.Parameter(torch.tensor([float(beta)]))
        self.fft_kw = fft_kw

    def forward(self, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Image complex64 [B, H, W] -> complex64 [B, H, W]."""
        predicted = fft2(sense_expand(x, maps), **self.fft_kw)
        kspace = predicted + mask * (1 - self.alpha) * (y - predicted)
        x_dc = sense_reduce(ifft2(kspace, **self.fft_kw), maps)
        return self.beta * x + (1 - self.beta) * x_dc


class IdentityDC(nn.Module):
    """``ID``: no data consistency (the regulariser alone)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """x, unchanged."""
        return x


DATA_CONSISTENCY = ("GD", "PROX", "VS", "ID")


def build_data_consistency(term: str, lam: float = 0.1, alpha: float = 1.0, beta: float = 1.0,
                           iterations: int = 10,
                           fft_kw: dict[str, Any] | None = None) -> nn.Module:
    """One of the DUNet data-consistency layers by name (``GD``, ``PROX``, ``VS``, ``ID``).

    Args:
        term: Layer name (case-insensitive).
        lam: Initial ``lam`` of GD/PROX.
        alpha: Initial ``alpha`` of VS.
        beta: Initial ``beta`` of VS.
        iterations: CG steps of PROX.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Returns:
        The layer: ``layer(x, y, maps, mask) -> x'``.
    """
    fft_kw = dict(fft_kw or {})
    name = str(term).upper()
    if name == "GD":
        return GradientDC(lam, fft_kw)
    if name == "PROX":
        return ProximalDC(lam, iterations, fft_kw)
    if name == "VS":
        return VariableSplittingDC(alpha, beta, fft_kw)
    if name == "ID":
        return IdentityDC()
    raise ValueError(f"expected data_consistency_term in {DATA_CONSISTENCY}, found {term!r}")


class DUNetNet(ImageUnrolledNet):
    """Alternate a DIDN regulariser step and a data-consistency layer.

    From ``x_0 = A^H y``::

        x_{t+1/2} = x_t - s_t D_t((x_t - m_t) / s_t)      (DIDN on normalised real/imag)
        x_{t+1}   = DC_t(x_{t+1/2}; y, S, M)              (GD, PROX, VS or ID)

    ``m_t``, ``s_t``: per-image mean and standard deviation of the real and imaginary parts.

    Args:
        num_iter: Iterations ``T``.
        hidden_channels: DIDN channels.
        num_dubs: DIDN down-up blocks.
        num_convs_recon: DIDN reconstruction-block convolutions.
        data_consistency: ``GD``, ``PROX``, ``VS`` or ``ID``.
        shared_params: One regulariser and DC layer for all iterations (what ATOMMIC 1.0.1
            builds whatever its ``shared_params``); False gives each iteration its own.
        dc_kwargs: ``lam``, ``alpha``, ``beta``, ``iterations`` of
            :func:`build_data_consistency`.
        zero_init: Zero each DIDN's output convolution (the network starts as its DC steps).
        phase_equivariant: Remove and restore the global phase of ``A^H y``.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = DUNetNet(num_iter=2, hidden_channels=4, num_dubs=1)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(y, torch.ones_like(y) / 2**0.5, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_iter: int = 10, hidden_channels: int = 64, num_dubs: int = 2,
                 num_convs_recon: int = 1, data_consistency: str = "VS",
                 shared_params: bool = True, dc_kwargs: dict[str, Any] | None = None,
                 zero_init: bool = False, phase_equivariant: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__(phase_equivariant, fft_kw)
        if num_iter < 1:
            raise ValueError(f"DUNetNet: expected num_iter >= 1, found {num_iter}")
        distinct = 1 if shared_params else num_iter
        self.regularisers = nn.ModuleList(
            DIDN(2, 2, hidden_channels, num_dubs, num_convs_recon) for _ in range(distinct))
        self.dcs = nn.ModuleList(
            build_data_consistency(data_consistency, fft_kw=self.fft_kw, **(dc_kwargs or {}))
            for _ in range(distinct))
        if zero_init:
            for reg in self.regularisers:
                nn.init.zeros_(reg.conv_out.weight)
                nn.init.zeros_(reg.conv_out.bias)
        self.num_iter = num_iter

    def iterate(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``T`` regulariser + DC steps from ``x_0 = image``, complex64 [B, H, W]."""
        x = image
        for t in range(self.num_iter):
            i = t % len(self.regularisers)
            channels = complex_to_channels(x)
            mean = channels.mean(dim=(-2, -1), keepdim=True)
            std = channels.std(dim=(-2, -1), keepdim=True) + 1e-6
            step = self.regularisers[i]((channels - mean) / std) * std
            x = self.dcs[i](x - channels_to_complex(step), masked_kspace, sensitivity_maps, mask)
        return x
