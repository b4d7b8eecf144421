"""Coil sensitivity maps from the auto-calibration (ACS) region of k-space.

Two estimators, both returning maps normalised to unit root-sum-of-squares over coils:

* :func:`estimate_sensitivity_maps_lowres`: low-resolution coil images divided by their RSS
  (as in the fastMRI E2E-VarNet sensitivity initialisation).
* :func:`espirit`: the eigenvector approach of Uecker et al., "ESPIRiT - an eigenvalue
  approach to autocalibrating parallel MRI: where SENSE meets GRAPPA", MRM 71:990-1001, 2014.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from atommic_rec.physics._checks import check_complex, check_ndim
from atommic_rec.physics.coils import rss_complex
from atommic_rec.physics.fft import ifft2

__all__ = ["espirit", "estimate_sensitivity_maps_lowres"]


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    h, w = (int(v) for v in value)
    return h, w


def _center_window(shape: tuple[int, int], size: tuple[int | None, int | None],
                   centered: bool, device: torch.device) -> torch.Tensor:
    """Float 0/1 window ``[H, W]`` keeping the ``size`` lowest frequencies per dim."""
    window = torch.ones(shape, device=device)
    for axis, (n, keep) in enumerate(zip(shape, size, strict=True)):
        if keep is None or keep >= n:
            continue
        line = torch.zeros(n, device=device)
        start = n // 2 - keep // 2  # DC sits at n // 2 in a centered spectrum
        line[start:start + keep] = 1
        line = line if centered else torch.fft.ifftshift(line)
        window = window * (line[:, None] if axis == 0 else line[None, :])
    return window


def estimate_sensitivity_maps_lowres(
    kspace: torch.Tensor,
    num_low_frequencies: int | Sequence[int],
    *,
    centered: bool = True,
    normalization: str = "ortho",
    spatial_dims: Sequence[int] = (-2, -1),
    eps: float = 1e-12,
) -> torch.Tensor:
    """Low-resolution sensitivity maps: ACS coil images divided by their RSS.

    Args:
        kspace: Complex64 (masked) k-space ``[C, H, W]`` or ``[B, C, H, W]`` (coils at -3).
        num_low_frequencies: Number of central phase-encoding lines (along W) to keep; a pair
            ``(h, w)`` keeps a central ``h x w`` box instead (2D calibration).
        centered: Whether the k-space is centered (FFT convention).
        normalization: FFT normalisation (cancels out in the ratio).
        spatial_dims: FFT dims; must be the last two.
        eps: Added to the RSS so empty pixels give zeros, not NaNs.

    Returns:
        Complex64 maps with the shape of ``kspace``, unit RSS over coils where signal is.
    """
    check_complex(kspace, "estimate_sensitivity_maps_lowres kspace")
    check_ndim(kspace, 3, "estimate_sensitivity_maps_lowres kspace", "[C, H, W]")
    size = (None, int(num_low_frequencies)) if isinstance(num_low_frequencies, int) \
        else _pair(num_low_frequencies)
    window = _center_window(tuple(kspace.shape[-2:]), size, centered, kspace.device)
    images = ifft2(kspace * window, centered=centered, normalization=normalization,
                   spatial_dims=spatial_dims)
    return images / (rss_complex(images, dim=-3).unsqueeze(-3) + eps)


def _calibration_matrix(calib: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Hankel-structured matrix ``[num_patches, C * k * k]`` of all ``k x k`` ACS patches."""
    coils = calib.shape[0]
    patches = calib.unfold(1, kernel_size, 1).unfold(2, kernel_size, 1)  # C, nh, nw, k, k
    return patches.permute(1, 2, 0, 3, 4).reshape(-1, coils * kernel_size**2)


def _kernel_gram(kernels: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per-pixel Gram matrices ``sum_n v_n v_n^H`` ``[H, W, C, C]`` of image-space kernels.

    ``v_n`` is the centered inverse FFT of kernel ``n`` zero-padded to ``H x W``. The product
    of two such images is the inverse FFT of the kernels' cross-correlation, which has only
    ``(2k - 1)^2`` lags: computing those (small FFTs) and then ``C^2`` image-size inverse FFTs
    avoids ``num_kernels * C`` full-size transforms and a large per-pixel contraction.
    """
    coils, k = kernels.shape[1], kernels.shape[-1]
    lags = 2 * k - 1
    spectra = torch.fft.fft2(kernels, s=(lags, lags))
    corr = torch.fft.ifft2(torch.einsum("nclm,ndlm->cdlm", spectra, spectra.conj()))
    corr = torch.fft.fftshift(corr, dim=(-2, -1))  # lag 0 at index k - 1
    grid = torch.zeros(coils, coils, h, w, dtype=corr.dtype, device=corr.device)
    top, left = h // 2 - (k - 1), w // 2 - (k - 1)
    grid[..., top:top + lags, left:left + lags] = corr
    return (ifft2(grid) / math.sqrt(h * w)).permute(2, 3, 0, 1)


def _espirit_single(kspace: torch.Tensor, calib_size: tuple[int, int], kernel_size: int,
                    eigen_threshold: float, crop: float) -> torch.Tensor:
    coils, h, w = kspace.shape
    ch, cw = min(calib_size[0], h), min(calib_size[1], w)
    top, left = h // 2 - ch // 2, w // 2 - cw // 2
    calib = kspace[:, top:top + ch, left:left + cw].to(torch.complex128)
    _, s, vh = torch.linalg.svd(_calibration_matrix(calib, kernel_size), full_matrices=False)
    kernels = vh[s > eigen_threshold * s.max()].reshape(-1, coils, kernel_size, kernel_size)
    gram = _kernel_gram(kernels, h, w) * (h * w / kernel_size**2)  # eigenvalue ~1 in object
    eigvals, eigvecs = torch.linalg.eigh(gram)
    maps = eigvecs[..., -1].permute(2, 0, 1)  # C, H, W; unit norm over coils
    maps = maps * torch.exp(-1j * torch.angle(maps[:1]))  # phase relative to coil 0
    return (maps * (eigvals[..., -1] > crop)).to(torch.complex64)


def espirit(
    kspace: torch.Tensor,
    *,
    calib_size: int | Sequence[int],
    kernel_size: int = 6,
    eigen_threshold: float = 0.02,
    crop: float = 0.95,
    centered: bool = True,
) -> torch.Tensor:
    """ESPIRiT sensitivity maps (Uecker et al., MRM 2014), one set of maps.

    The calibration matrix of all ``kernel_size``-square patches of the central ACS block is
    decomposed by SVD; kernels whose singular value exceeds ``eigen_threshold`` times the
    largest span the signal space. Per pixel, the eigenvector of the image-space kernel Gram
    matrix with the largest eigenvalue is the map; pixels whose eigenvalue is below ``crop``
    (outside the object) are set to zero.

    Args:
        kspace: Complex64 k-space ``[C, H, W]`` or ``[B, C, H, W]``; its central
            ``calib_size`` block must be fully sampled.
        calib_size: Side (or ``(h, w)``) of the central calibration block.
        kernel_size: Side of the k-space kernels.
        eigen_threshold: Relative singular-value threshold of the calibration matrix.
        crop: Eigenvalue threshold (0..1) below which maps are zeroed.
        centered: Whether the k-space is centered; non-centered input is shifted internally
            and the maps are returned in the matching (non-shifted) image order.

    Returns:
        Complex64 maps with the shape of ``kspace``, unit RSS over coils inside the object,
        phase relative to the first coil.
    """
    check_complex(kspace, "espirit kspace")
    check_ndim(kspace, 3, "espirit kspace", "[C, H, W]")
    size = _pair(calib_size)
    if kernel_size > min(size):
        raise ValueError(f"espirit: expected kernel_size <= calib_size {size}; "
                         f"found {kernel_size}")
    data = kspace if centered else torch.fft.fftshift(kspace, dim=(-2, -1))
    flat = data.reshape(-1, *data.shape[-3:])
    maps = torch.stack([_espirit_single(k, size, kernel_size, eigen_threshold, crop)
                        for k in flat]).reshape(kspace.shape)
    # The maps of a shifted spectrum are the shifted image: undo it (odd sizes included).
    return maps if centered else torch.fft.ifftshift(maps, dim=(-2, -1))
