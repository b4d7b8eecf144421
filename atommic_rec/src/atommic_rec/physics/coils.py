"""Coil combination: root-sum-of-squares and SENSE expand/reduce (coil dim is -3 here)."""

from __future__ import annotations

import torch

from atommic_rec.physics._checks import check_complex, check_ndim

__all__ = ["rss", "rss_complex", "sense_expand", "sense_reduce"]


def rss(data: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root-sum-of-squares over ``dim`` of real (magnitude) images.

    Args:
        data: Real tensor, e.g. coil magnitudes ``[B, C, H, W]``. Complex input is accepted
            too and treated as :func:`rss_complex`.
        dim: The coil dim.

    Returns:
        Real tensor with ``dim`` removed, e.g. ``[B, H, W]``.
    """
    if data.is_complex():
        return rss_complex(data, dim=dim)
    return data.square().sum(dim).sqrt()


def rss_complex(data: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root-sum-of-squares of complex data over ``dim``.

    Args:
        data: Complex64 tensor, e.g. coil images ``[B, C, H, W]``.
        dim: The coil dim.

    Returns:
        Float32 tensor with ``dim`` removed, e.g. ``[B, H, W]``.
    """
    check_complex(data, "rss_complex input")
    return torch.view_as_real(data).square().sum(-1).sum(dim).sqrt()


def _check_pair(image: torch.Tensor, maps: torch.Tensor, name: str, coil_first: bool) -> None:
    check_complex(image, f"{name} image")
    check_complex(maps, f"{name} sensitivity_maps")
    check_ndim(maps, 3, f"{name} sensitivity_maps", "[..., C, H, W]")
    if coil_first:  # maps may broadcast over leading (batch) dims
        ok = image.ndim >= maps.ndim and image.shape[-3:] == maps.shape[-3:]
    else:
        ok = image.ndim == maps.ndim - 1 and image.shape[-2:] == maps.shape[-2:]
    if not ok:
        layout = "[B, C, H, W]" if coil_first else "[B, H, W]"
        raise ValueError(
            f"{name}: expected image {layout} matching sensitivity_maps "
            f"{tuple(maps.shape)} (complex64); found {tuple(image.shape)}"
        )


def sense_expand(image: torch.Tensor, sensitivity_maps: torch.Tensor) -> torch.Tensor:
    """Coil images from one image: ``S_c * x``.

    Args:
        image: Complex64 ``[B, H, W]`` (any leading dims).
        sensitivity_maps: Complex64 ``[B, C, H, W]``.

    Returns:
        Complex64 coil images ``[B, C, H, W]``.
    """
    _check_pair(image, sensitivity_maps, "sense_expand", coil_first=False)
    return image.unsqueeze(-3) * sensitivity_maps


def sense_reduce(coil_images: torch.Tensor, sensitivity_maps: torch.Tensor) -> torch.Tensor:
    """SENSE coil combination ``sum_c conj(S_c) * x_c`` (adjoint of :func:`sense_expand`).

    Args:
        coil_images: Complex64 ``[B, C, H, W]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]`` (broadcastable over batch).

    Returns:
        Complex64 image ``[B, H, W]``.
    """
    _check_pair(coil_images, sensitivity_maps, "sense_reduce", coil_first=True)
    return (coil_images * sensitivity_maps.conj()).sum(-3)
