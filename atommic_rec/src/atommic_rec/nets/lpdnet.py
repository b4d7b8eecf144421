"""Learned primal-dual network for multi-coil MRI (Adler and Oktem, IEEE TMI 2018).

Reference: J. Adler and O. Oktem, "Learned Primal-Dual Reconstruction", IEEE Trans. Med.
Imaging 37(6), 1322-1332, 2018, arXiv:1707.06474.
"""

from __future__ import annotations

from typing import Any

from atommic_rec.nets.primal_dual import PrimalDualNet
from atommic_rec.nets.unet import NormUnet

__all__ = ["build_lpdnet"]


def build_lpdnet(num_iter: int = 5, num_primal: int = 5, num_dual: int = 5,
                 primal_chans: int = 16, primal_pools: int = 2, dual_chans: int = 16,
                 dual_pools: int = 2, share_weights: bool = False,
                 fft_kw: dict[str, Any] | None = None, zero_init: bool = False) -> PrimalDualNet:
    """A :class:`~atommic_rec.nets.primal_dual.PrimalDualNet` with NormUnet primal/dual networks.

    ``h <- h + Gamma_i([h, A f[1], y])``, ``f <- f + Lambda_i([f, A^H h[0]])``, output
    ``f[0]``; ``Gamma_i`` (on every coil's k-space) and ``Lambda_i`` are NormUnets over the
    stacked complex channels.

    Args:
        num_iter: Number of primal-dual iterations.
        num_primal: Primal buffer size P.
        num_dual: Dual buffer size D.
        primal_chans: NormUnet channels of the primal networks.
        primal_pools: NormUnet pooling levels of the primal networks.
        dual_chans: NormUnet channels of the dual networks.
        dual_pools: NormUnet pooling levels of the dual networks.
        share_weights: One primal and one dual network for all iterations, as ATOMMIC 1.0.1
            builds them (its reference parameter count); the paper trains one pair per
            iteration.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        zero_init: Start every update at exactly zero (learned ReZero gates, see
            :class:`~atommic_rec.nets.primal_dual.PrimalDualNet`), so training starts from the
            zero-filled SENSE image (for short trainings; adds ``2 * num_iter`` parameters).

    Returns:
        The network: ``net(masked_kspace, sensitivity_maps, mask)`` -> complex64 [B, H, W].

    Example:
        >>> import torch
        >>> net = build_lpdnet(num_iter=2, num_primal=2, num_dual=2, primal_chans=4, dual_chans=4)
        >>> k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(k, torch.ones_like(k), torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """
    nets = 1 if share_weights else num_iter
    # zeroing the NormUnets' last convolution would not do: they would output the input mean
    primal = [NormUnet(primal_chans, primal_pools, in_chans=num_primal + 1,
                       out_chans=num_primal) for _ in range(nets)]
    dual = [NormUnet(dual_chans, dual_pools, in_chans=num_dual + 2,
                     out_chans=num_dual) for _ in range(nets)]
    return PrimalDualNet(primal, dual, num_iter, num_primal, num_dual, cross_all=False,
                         fft_kw=fft_kw, gated=zero_init)
