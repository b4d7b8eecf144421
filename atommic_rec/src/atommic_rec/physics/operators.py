"""Undersampled multi-coil SENSE forward and adjoint operators."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from atommic_rec.physics._checks import check_complex
from atommic_rec.physics.coils import sense_expand, sense_reduce
from atommic_rec.physics.fft import fft2, ifft2

__all__ = ["adjoint_operator", "apply_mask", "forward_operator"]


def apply_mask(kspace: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the unsampled k-space locations.

    Args:
        kspace: Complex64 ``[B, C, H, W]``.
        mask: Float32 (or bool) 0/1 mask broadcastable to ``kspace``, e.g. ``[B, 1, 1, W]``;
            None returns ``kspace`` unchanged.

    Returns:
        Complex64 masked k-space, same shape as ``kspace``.
    """
    check_complex(kspace, "apply_mask kspace")
    if mask is None:
        return kspace
    try:
        torch.broadcast_shapes(mask.shape, kspace.shape)
    except RuntimeError:
        raise ValueError(
            f"apply_mask: expected mask broadcastable to kspace {tuple(kspace.shape)} "
            f"(float32 0/1); found {tuple(mask.shape)}"
        ) from None
    return kspace * (mask if mask.is_floating_point() else mask.float())


def forward_operator(
    image: torch.Tensor,
    sensitivity_maps: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    centered: bool = True,
    normalization: str = "ortho",
    spatial_dims: Sequence[int] = (-2, -1),
) -> torch.Tensor:
    """``A x = M F S x``: image to undersampled multi-coil k-space.

    Args:
        image: Complex64 ``[B, H, W]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]``.
        mask: Float32 mask broadcastable to ``[B, C, H, W]`` or None (fully sampled).
        centered: FFT option, see :func:`~atommic_rec.physics.fft2`.
        normalization: FFT option; with ``"ortho"`` the adjoint is exact.
        spatial_dims: FFT option.

    Returns:
        Complex64 k-space ``[B, C, H, W]``.
    """
    coil_images = sense_expand(image, sensitivity_maps)
    kspace = fft2(coil_images, centered=centered, normalization=normalization,
                  spatial_dims=spatial_dims)
    return apply_mask(kspace, mask)


def adjoint_operator(
    kspace: torch.Tensor,
    sensitivity_maps: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    centered: bool = True,
    normalization: str = "ortho",
    spatial_dims: Sequence[int] = (-2, -1),
) -> torch.Tensor:
    """``A^H y = S^H F^-1 M y``: undersampled k-space to a coil-combined image.

    Args:
        kspace: Complex64 ``[B, C, H, W]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]``.
        mask: Float32 mask broadcastable to ``kspace`` or None.
        centered: FFT option, see :func:`~atommic_rec.physics.ifft2`.
        normalization: FFT option; with ``"ortho"`` this is the exact adjoint of
            :func:`forward_operator`.
        spatial_dims: FFT option.

    Returns:
        Complex64 image ``[B, H, W]``.
    """
    check_complex(kspace, "adjoint_operator kspace")
    coil_images = ifft2(apply_mask(kspace, mask), centered=centered,
                        normalization=normalization, spatial_dims=spatial_dims)
    return sense_reduce(coil_images, sensitivity_maps)
