"""XPDNet: cross-domain primal-dual network (Ramzi et al., fastMRI challenge 2020).

Reference: Z. Ramzi, P. Ciuciu and J.-L. Starck, "XPDNet for MRI Reconstruction: an
application to the 2020 fastMRI challenge", arXiv:2010.07290, 2020.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from atommic_rec.nets.complex_channels import ComplexChannelNet, ConvStack
from atommic_rec.nets.mwcnn import MWCNN
from atommic_rec.nets.primal_dual import PrimalDualNet

__all__ = ["build_xpdnet"]


def build_xpdnet(num_iter: int = 10, num_primal: int = 5, num_dual: int = 1,
                 primal_only: bool = True, dual_hidden: int = 16, dual_convs: int = 2,
                 dual_batchnorm: bool = False, mwcnn_hidden: int = 16, mwcnn_scales: int = 0,
                 mwcnn_bias: bool = True, mwcnn_batchnorm: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> PrimalDualNet:
    """A cross-domain :class:`~atommic_rec.nets.primal_dual.PrimalDualNet` with MWCNN primals.

    ``f <- f + Lambda_i([f, A^H h])`` with ``Lambda_i`` an :class:`~atommic_rec.nets.mwcnn.MWCNN`
    followed by a 3x3 convolution to the P primal channels; the dual step is the data
    residual ``h = A f[0] - y`` (``primal_only``, the challenge setting) or
    ``h <- h + Gamma_i([h, A f, y])`` with a plain CNN ``Gamma_i`` on every coil.

    ATOMMIC 1.0.1's primal-only step computes ``h <- h - A f[0]`` from ``h = y``, which adds up
    the predictions of all past iterations instead of forming the residual.

    Args:
        num_iter: Number of iterations (one network per iteration).
        num_primal: Primal buffer size P.
        num_dual: Dual buffer size D (1 when ``primal_only``).
        primal_only: Use the data residual as the dual step (no dual networks).
        dual_hidden: Hidden channels of the dual CNNs.
        dual_convs: Convolutions of each dual CNN.
        dual_batchnorm: Batch normalisation in the dual CNNs.
        mwcnn_hidden: Channels of the finest MWCNN level.
        mwcnn_scales: MWCNN levels (0: the primal network is one convolution).
        mwcnn_bias: MWCNN convolution biases.
        mwcnn_batchnorm: MWCNN batch normalisation.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Returns:
        The network: ``net(masked_kspace, sensitivity_maps, mask)`` -> complex64 [B, H, W].

    Example:
        >>> import torch
        >>> net = build_xpdnet(num_iter=2, num_primal=2, mwcnn_hidden=4, mwcnn_scales=1)
        >>> k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(k, torch.ones_like(k), torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """
    num_dual = 1 if primal_only else num_dual
    chans = 2 * (num_primal + num_dual)
    primal = [ComplexChannelNet(nn.Sequential(
        MWCNN(chans, mwcnn_hidden, mwcnn_scales, mwcnn_bias, mwcnn_batchnorm),
        nn.Conv2d(chans, 2 * num_primal, 3, padding=1))) for _ in range(num_iter)]
    dual = None if primal_only else [ComplexChannelNet(ConvStack(
        2 * (num_dual + num_primal + 1), 2 * num_dual, dual_hidden, dual_convs, nn.PReLU(),
        dual_batchnorm)) for _ in range(num_iter)]
    return PrimalDualNet(primal, dual, num_iter, num_primal, num_dual, cross_all=True,
                         fft_kw=fft_kw)
