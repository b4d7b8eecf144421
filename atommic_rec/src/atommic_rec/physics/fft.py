"""Centered and non-centered 2D FFTs over arbitrary spatial dims, always in complex64+.

Conventions follow ATOMMIC's config keys: ``fft_centered`` (k-space centre in the middle of
the array, as in fastMRI), ``fft_normalization`` and ``spatial_dims``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from atommic_rec.physics._checks import as_complex

__all__ = ["NORMALIZATIONS", "fft2", "ifft2"]

NORMALIZATIONS = ("ortho", "backward", "forward", "none")


def _norm(normalization: str) -> str:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"fft normalization: expected one of {', '.join(NORMALIZATIONS)}; "
            f"found {normalization!r}"
        )
    # "none" is ATOMMIC's spelling of torch's default: no scaling forward, 1/N inverse.
    return "backward" if normalization == "none" else normalization


def _dims(data: torch.Tensor, spatial_dims: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(d) for d in spatial_dims)
    if not all(-data.ndim <= d < data.ndim for d in dims) or len(set(
            d % data.ndim for d in dims)) != len(dims):
        raise ValueError(
            f"fft spatial_dims: expected dims within a {data.ndim}-d tensor of shape "
            f"{tuple(data.shape)}; found {dims}"
        )
    return tuple(d % data.ndim for d in dims)


@functools.lru_cache(maxsize=32)
def _checkerboards(shape: tuple[int, ...], dims: tuple[int, ...], device: torch.device
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sign patterns ``(-1)^(sum n_d)`` before and ``c (-1)^(sum k_d)`` after the FFT.

    For even sizes, ``fftshift(F(ifftshift(x))) = c * s * F(s * x)`` with ``s`` the
    checkerboard and ``c = (-1)^(sum N_d / 2)``: two multiplications instead of two rolls.
    """
    # cached tensors must not be inference tensors (a first call under inference_mode,
    # e.g. validation before training, would otherwise break later autograd use)
    with torch.inference_mode(False):
        pattern = torch.ones((), device=device)
        for d in dims:
            view = [1] * len(shape)
            view[d] = shape[d]
            sign = 1.0 - 2.0 * (torch.arange(shape[d], device=device) % 2)
            pattern = pattern * sign.reshape(view)
        c = -1.0 if sum(shape[d] // 2 for d in dims) % 2 else 1.0
        return pattern, pattern * c


def _centered(transform, data: torch.Tensor, dims: tuple[int, ...], norm: str) -> torch.Tensor:
    if all(data.shape[d] % 2 == 0 for d in dims):
        shape = tuple(data.shape[d] if d in dims else 1 for d in range(data.ndim))
        # under torch.compile the patterns are traced (and constant-folded), not cached
        build = _checkerboards.__wrapped__ if torch.compiler.is_compiling() else _checkerboards
        before, after = build(shape, dims, data.device)
        return transform(data * before, dim=dims, norm=norm) * after
    data = torch.fft.ifftshift(data, dim=dims)
    return torch.fft.fftshift(transform(data, dim=dims, norm=norm), dim=dims)


def _transform(transform, data: torch.Tensor, centered: bool, normalization: str,
               spatial_dims: Sequence[int]) -> torch.Tensor:
    """``transform`` (``torch.fft.fftn`` or ``ifftn``) with the options of :func:`fft2`."""
    data = as_complex(data)
    dims = _dims(data, spatial_dims)
    if centered:
        return _centered(transform, data, dims, _norm(normalization))
    return transform(data, dim=dims, norm=_norm(normalization))


def fft2(
    data: torch.Tensor,
    *,
    centered: bool = True,
    normalization: str = "ortho",
    spatial_dims: Sequence[int] = (-2, -1),
) -> torch.Tensor:
    """2D forward FFT (image -> k-space).

    Args:
        data: Complex tensor ``[..., H, W]`` (complex64; complex128 stays double). A
            real-stacked float tensor ``[..., H, W, 2]`` of any precision (bf16/fp16 included)
            is converted to complex64 first.
        centered: If True, k-space centre (DC) is in the middle of the array (fastMRI).
        normalization: ``"ortho"``, ``"backward"``, ``"forward"`` or ``"none"`` (= backward).
        spatial_dims: The two dims to transform.

    Returns:
        Complex64 (or complex128) tensor of the same shape as the complex input.
    """
    return _transform(torch.fft.fftn, data, centered, normalization, spatial_dims)


def ifft2(
    data: torch.Tensor,
    *,
    centered: bool = True,
    normalization: str = "ortho",
    spatial_dims: Sequence[int] = (-2, -1),
) -> torch.Tensor:
    """2D inverse FFT (k-space -> image); the inverse of :func:`fft2` with the same options.

    Args:
        data: Complex k-space ``[..., H, W]`` (or real-stacked ``[..., H, W, 2]``).
        centered: If True, the input has DC in the middle of the array.
        normalization: ``"ortho"``, ``"backward"``, ``"forward"`` or ``"none"`` (= backward).
        spatial_dims: The two dims to transform.

    Returns:
        Complex64 (or complex128) image tensor of the same shape as the complex input.
    """
    return _transform(torch.fft.ifftn, data, centered, normalization, spatial_dims)
