"""Unrolled proximal gradient descent on the SENSE data term.

Proximal gradient (forward-backward splitting; Combettes and Wajs, Multiscale Model. Simul.
4(4) 2005) for ``min_x 1/2 ||A x - y||^2 + R(x)``, unrolled with learned parts as in ISTA-Net
(Zhang and Ghanem, CVPR 2018, arXiv:1706.07929) and the "learned proximal" networks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import log_likelihood_gradient
from atommic_rec.nets.modl import PositiveScalar, ResidualDenoiser
from atommic_rec.nets.unrolled import ImageUnrolledNet

__all__ = ["PROXIMAL_OPERATORS", "ProximalGradientNet"]

PROXIMAL_OPERATORS = ("tikhonov", "cnn")


class ProximalGradientNet(ImageUnrolledNet):
    """``x_k = prox_k(x_{k-1} - eta_k A^H (A x_{k-1} - y))`` from ``x_0 = A^H y``.

    Two proximal operators:

    - ``tikhonov``: the exact proximal map of ``R(x) = mu/2 ||x||^2``,
      ``prox(v) = v / (1 + eta mu)`` with one learned ``mu > 0`` and the fixed step ``eta``
      (``eta = 1`` is admissible for unit-RSS maps and an orthonormal FFT, ``||A|| <= 1``).
      It converges to ``(A^H A + mu I)^{-1} A^H y``, the solution ATOMMIC's ProximalGradient
      computes by conjugate gradient, with the same single parameter.
    - ``cnn``: a learned proximal map ``prox_k = ResidualDenoiser`` and learned steps
      ``eta_k > 0`` (one denoiser for all iterations with ``shared_params``).

    Args:
        iterations: Unrolled iterations ``K``.
        proximal_operator: ``tikhonov`` or ``cnn``.
        mu: Initial ``mu`` (tikhonov).
        step_size: ``eta`` (fixed for tikhonov, the initial ``eta_k`` for cnn).
        channels: Denoiser channels (cnn).
        blocks: Denoiser residual blocks (cnn).
        shared_params: One denoiser and step for all iterations (cnn).
        zero_init: Denoisers start as the identity (cnn).
        phase_equivariant: Remove and restore the global phase of ``A^H y`` (cnn; the
            tikhonov operator is linear and equivariant as it is).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = ProximalGradientNet(iterations=3)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(y, torch.ones_like(y) / 2**0.5, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, iterations: int = 10, proximal_operator: str = "tikhonov",
                 mu: float = 0.05, step_size: float = 1.0, channels: int = 64, blocks: int = 5,
                 shared_params: bool = True, zero_init: bool = False,
                 phase_equivariant: bool = False, fft_kw: dict[str, Any] | None = None) -> None:
        tikhonov = proximal_operator == "tikhonov"
        super().__init__(bool(phase_equivariant) and not tikhonov, fft_kw)
        if proximal_operator not in PROXIMAL_OPERATORS:
            raise ValueError(f"ProximalGradientNet: expected proximal_operator in "
                             f"{PROXIMAL_OPERATORS}, found {proximal_operator!r}")
        if iterations < 1 or not step_size > 0:
            raise ValueError(f"ProximalGradientNet: expected iterations >= 1 and step_size > 0, "
                             f"found {iterations} and {step_size}")
        self.iterations = iterations
        self.step_size = float(step_size)
        self.tikhonov = proximal_operator == "tikhonov"
        if self.tikhonov:
            self.mu = PositiveScalar(mu)
        else:
            distinct = 1 if shared_params else iterations
            self.denoisers = nn.ModuleList(ResidualDenoiser(channels, blocks, zero_init=zero_init)
                                           for _ in range(distinct))
            self.steps = nn.ModuleList(PositiveScalar(step_size) for _ in range(distinct))

    def iterate(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``K`` proximal gradient steps from ``x_0 = image``, complex64 [B, H, W]."""
        x = image
        for k in range(self.iterations):
            grad = log_likelihood_gradient(x, masked_kspace, sensitivity_maps, mask, **self.fft_kw)
            if self.tikhonov:
                x = (x - self.step_size * grad) / (1 + self.step_size * self.mu())
            else:
                i = k % len(self.denoisers)
                x = self.denoisers[i](x - self.steps[i]() * grad)
        return x
