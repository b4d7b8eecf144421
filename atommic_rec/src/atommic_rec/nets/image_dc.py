"""Data consistency of an image estimate in multi-coil k-space (CascadeNet, CRNNet, KIKINet).

Schlemper et al. (IEEE TMI 2018) write the data-consistency layer for noisy data as
``k_dc = (1 - M) k + M (k + lam y) / (1 + lam)`` with ``k = F S x``; with
``w = lam / (1 + lam)`` this is ``k - w M (k - y)``, and ``w = 1`` (``lam -> inf``) is the
hard (noise-free) projection that replaces the sampled entries by the measured ones. The
weight is learned and starts at 1, as ATOMMIC's ``dc_weight``.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.nets.consistency import at_least_complex64, soft_data_consistency
from atommic_rec.physics import fft2, ifft2, sense_expand, sense_reduce

__all__ = ["image_data_consistency"]


def image_data_consistency(image: torch.Tensor, masked_kspace: torch.Tensor,
                           sensitivity_maps: torch.Tensor, mask: torch.Tensor,
                           weight: torch.Tensor | float, **fft_kw: Any) -> torch.Tensor:
    """``x' = S^H F^-1 (k - w M (k - y))`` with ``k = F S x``.

    Args:
        image: Image estimate ``x``, complex [B, H, W].
        masked_kspace: Measured ``y``, complex64 [B, C, H, W].
        sensitivity_maps: Coil maps ``S``, complex64 [B, C, H, W].
        mask: Sampling mask ``M`` (0/1), float, broadcastable to [B, C, H, W].
        weight: ``w`` (1 = hard data consistency), float scalar or tensor [1].
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims`` of the FFT.

    Returns:
        The data-consistent image, complex64 [B, H, W].
    """
    kspace = fft2(sense_expand(at_least_complex64(image), sensitivity_maps), **fft_kw)
    weight = torch.as_tensor(weight, dtype=mask.dtype, device=mask.device)
    kspace = kspace - soft_data_consistency(kspace, masked_kspace, mask, weight)
    return sense_reduce(ifft2(kspace, **fft_kw), sensitivity_maps)
