"""Data-consistency terms shared by the unrolled models (always computed in complex64).

Under mixed precision the networks may return bfloat16/float16 channels; these helpers cast
their inputs back to ``complex64`` before any FFT, because CPU FFTs reject half precision.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.physics import adjoint_operator, forward_operator

__all__ = ["at_least_complex64", "log_likelihood_gradient", "soft_data_consistency"]


def at_least_complex64(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` as complex64, or unchanged if it is complex64 or complex128.

    complex128 passes through so that ``64-true`` precision training stays in double.

    Args:
        x: A complex tensor of any complex dtype.

    Returns:
        The same values as complex64 (complex128 input stays complex128).
    """
    if not x.is_complex():
        raise ValueError(f"expected a complex tensor, found {x.dtype}; hint: use "
                         "atommic_rec.physics.channels_to_complex on [..., 2, H, W] channels")
    return x if x.dtype in (torch.complex64, torch.complex128) else x.to(torch.complex64)


def soft_data_consistency(kspace: torch.Tensor, masked_kspace: torch.Tensor, mask: torch.Tensor,
                          weight: torch.Tensor) -> torch.Tensor:
    """The soft data-consistency term ``weight * mask * (kspace - masked_kspace)`` (E2E VarNet).

    Args:
        kspace: Current k-space estimate, complex64 [B, C, H, W].
        masked_kspace: Measured k-space, complex64 [B, C, H, W].
        mask: Sampling mask (0/1), float, broadcastable to [B, C, H, W].
        weight: Learned scalar weight, float [1].

    Returns:
        The term to subtract from ``kspace``, complex64 [B, C, H, W].
    """
    return (kspace - masked_kspace) * (mask * weight)


def log_likelihood_gradient(image: torch.Tensor, masked_kspace: torch.Tensor,
                            sensitivity_maps: torch.Tensor, mask: torch.Tensor,
                            sigma: float = 1.0, **fft_kw: Any) -> torch.Tensor:
    """Gradient ``A^H (A x - y) / sigma^2`` of the Gaussian data term (the RIM's input).

    With complex Gaussian noise of standard deviation ``sigma`` on the measured k-space,
    ``-log p(y | x) = ||A x - y||^2 / (2 sigma^2) + const`` for ``A = M F S``; its gradient
    (the one the RIM descends; Lonning et al., MedIA 2019; Karkalousos et al., PMB 2022, and
    their mridc code) is this one. ATOMMIC 1.0.1 divides by ``max(sigma, 1)`` instead (marked
    "TODO: check if we need this" there); the two agree only at ``sigma = 1``, the default.

    Args:
        image: Current estimate ``x``, complex64 [B, H, W].
        masked_kspace: Measured ``y``, complex64 [B, C, H, W].
        sensitivity_maps: Coil maps ``S``, complex64 [B, C, H, W].
        mask: Sampling mask, float, broadcastable to [B, C, H, W].
        sigma: Noise standard deviation (> 0) in the units of the (normalised) k-space.
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims`` of the FFT.

    Returns:
        The gradient, complex64 [B, H, W].
    """
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"log_likelihood_gradient: expected sigma > 0 (the noise standard "
                         f"deviation); found {sigma}; hint: set model.sigma to a positive value")
    residual = forward_operator(at_least_complex64(image), sensitivity_maps, mask, **fft_kw)
    grad = adjoint_operator(residual - masked_kspace, sensitivity_maps, mask, **fft_kw)
    return grad / sigma**2
