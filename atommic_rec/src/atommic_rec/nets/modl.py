"""MoDL: model-based deep learning (Aggarwal, Mani, Jacob; IEEE TMI 2019, arXiv:1712.02862).

Also the residual CNN denoiser it uses (the SSDU variant of Yaman et al., MRM 84 2020,
arXiv:1910.09116), shared with the other unrolled models that want a plain CNN prior.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from atommic_rec.nets.conjugate_gradient import solve_regularised_sense
from atommic_rec.nets.unrolled import ImageUnrolledNet
from atommic_rec.physics import channels_to_complex, complex_to_channels

__all__ = ["MoDLNet", "PositiveScalar", "ResidualDenoiser"]


class PositiveScalar(nn.Module):
    """A learned scalar kept positive as ``softplus(raw)``, starting at ``init``.

    A regularisation weight that turned negative would make the normal equations indefinite
    (CG then diverges); softplus keeps it positive with one parameter.

    Args:
        init: Starting value (> 0).
    """

    def __init__(self, init: float) -> None:
        super().__init__()
        if not init > 0:
            raise ValueError(f"PositiveScalar: expected init > 0, found {init}; hint: set the "
                             "penalization weight to a positive value")
        self.raw = nn.Parameter(torch.tensor([math.log(math.expm1(float(init)))]))

    def forward(self) -> torch.Tensor:
        """The value, float [1]."""
        return F.softplus(self.raw)


class ResidualDenoiser(nn.Module):
    """``z = x + N(x)``: a bias-free residual CNN on the real/imag channels of an image.

    ``N``: a 3x3 input convolution to ``channels``, ``blocks`` residual blocks
    ``h <- h + scale * conv(relu(conv(h)))``, a 3x3 convolution added to the input
    convolution's features, and a 3x3 output convolution back to 2 channels (Xavier-normal
    initialisation). The outer residual makes it the paper's ``D_w = I - N_w`` denoiser.

    Args:
        channels: Feature channels.
        blocks: Residual blocks.
        scale: Residual scaling of each block (0.1 in SSDU/ATOMMIC).
        zero_init: Zero the output convolution: the denoiser starts as the identity.

    Example:
        >>> net = ResidualDenoiser(channels=4, blocks=1)
        >>> net(torch.zeros(2, 8, 8, dtype=torch.complex64)).shape
        torch.Size([2, 8, 8])
    """

    def __init__(self, channels: int = 64, blocks: int = 15, scale: float = 0.1,
                 zero_init: bool = False) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int) -> nn.Conv2d:
            layer = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            nn.init.xavier_normal_(layer.weight)
            return layer

        self.conv_in = conv(2, channels)
        self.blocks = nn.ModuleList(nn.Sequential(conv(channels, channels), nn.ReLU(),
                                                  conv(channels, channels))
                                    for _ in range(blocks))
        self.conv_mid = conv(channels, channels)
        self.conv_out = conv(channels, 2)
        if zero_init:
            nn.init.zeros_(self.conv_out.weight)
        self.scale = float(scale)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex image [N, H, W] -> denoised complex64 image [N, H, W]."""
        x = complex_to_channels(image)
        features = self.conv_in(x)
        h = features
        for block in self.blocks:
            h = h + self.scale * block(h)
        out = x + self.conv_out(self.conv_mid(h) + features)
        return channels_to_complex(out)


class MoDLNet(ImageUnrolledNet):
    """Alternate a CNN denoiser and conjugate-gradient data consistency, with shared weights.

    From ``x_0 = A^H y`` (``A = M F S``), for ``k = 1..K``::

        z_k = D_w(x_{k-1})                                    (ResidualDenoiser)
        x_k = argmin_x ||A x - y||^2 + mu ||x - z_k||^2
            = (A^H A + mu I)^{-1} (A^H y + mu z_k)            (CG, differentiated through)

    ``D_w`` and ``mu > 0`` are shared by all iterations, as in the paper.

    Args:
        iterations: Unrolled iterations ``K``.
        blocks: Residual blocks of the denoiser.
        channels: Feature channels of the denoiser.
        scale: Residual scaling of the denoiser blocks.
        dc: Apply the CG data consistency (False: ``x_k = z_k``, a recurrent denoiser).
        cg_iterations: CG steps per data consistency.
        mu: Initial ``mu`` (learned).
        zero_init: Start the denoiser at the identity (see :class:`ResidualDenoiser`).
        phase_equivariant: Remove the global phase of ``A^H y`` first and restore it at the
            end (see :func:`~atommic_rec.nets.phase.remove_global_phase`).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = MoDLNet(iterations=2, blocks=1, channels=4, cg_iterations=2)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(y, torch.ones_like(y) / 2**0.5, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, iterations: int = 5, blocks: int = 5, channels: int = 64,
                 scale: float = 0.1, dc: bool = True, cg_iterations: int = 10, mu: float = 1.0,
                 zero_init: bool = False, phase_equivariant: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__(phase_equivariant, fft_kw)
        if iterations < 1 or cg_iterations < 0:
            raise ValueError(f"MoDLNet: expected iterations >= 1 and cg_iterations >= 0, found "
                             f"{iterations} and {cg_iterations}")
        self.denoiser = ResidualDenoiser(channels, blocks, scale, zero_init)
        self.mu = PositiveScalar(mu) if dc else None
        self.iterations = iterations
        self.cg_iterations = cg_iterations

    def iterate(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``K`` denoiser + CG steps from ``x_0 = image``, complex64 [B, H, W]."""
        x = image
        for _ in range(self.iterations):
            x = self.denoiser(x)
            if self.mu is not None:
                x = solve_regularised_sense(masked_kspace, sensitivity_maps, mask, self.mu(), x,
                                            self.cg_iterations, **self.fft_kw)
        return x
