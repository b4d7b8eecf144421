"""Coil transforms: sensitivity-map estimation, the target image and the initial image."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from atommic_rec.physics import (
    espirit,
    estimate_sensitivity_maps_lowres,
    ifft2,
    rss_complex,
    sense_reduce,
)
from atommic_rec.transforms._fft_opts import FFTOptions
from atommic_rec.transforms.compose import register_transform

__all__ = ["EstimateSensitivityMaps", "InitialImage", "Target", "count_center_lines"]

COMBINATIONS = ("sense", "rss")


def count_center_lines(mask: torch.Tensor, fft_centered: bool = True) -> tuple[int, int]:
    """Size ``(h, w)`` of the contiguous fully sampled box around the k-space centre.

    Args:
        mask: Float 0/1 mask ``[..., 1, W]`` (lines) or ``[..., H, W]`` (points).
        fft_centered: Whether DC is in the middle (else at index 0).

    Returns:
        ``(h, w)``; ``h`` is 1 for line masks ``[..., 1, W]``.
    """
    pattern = mask.reshape(-1, *mask.shape[-2:])[0] > 0
    if not fft_centered:
        pattern = torch.fft.fftshift(pattern, dim=(-2, -1))
    h, w = pattern.shape
    return _run(pattern[:, w // 2]) if h > 1 else 1, _run(pattern[h // 2, :])


def _run(line: torch.Tensor) -> int:
    """Length of the run of True values through the middle of ``line``."""
    mid, n = line.shape[0] // 2, line.shape[0]
    if not line[mid]:
        return 0
    left = mid
    while left > 0 and line[left - 1]:
        left -= 1
    right = mid
    while right < n - 1 and line[right + 1]:
        right += 1
    return right - left + 1


def _check_method(method: str, label: str) -> str:
    if method not in COMBINATIONS:
        raise ValueError(f"{label}: expected method in {COMBINATIONS}; found {method!r}")
    return method


class EstimateSensitivityMaps:
    """Estimate ``sensitivity_maps`` from the ACS region of ``masked_kspace``.

    YAML ``{name: sensitivity_maps, method: lowres}``. Maps already in the sample (from the
    file) are kept unless ``overwrite``. Single-coil data get maps of ones.

    Args:
        method: ``"lowres"`` (RSS-normalised low-resolution images) or ``"espirit"``.
        num_low_frequencies: ACS lines (int) or box ``[h, w]``; None detects the fully sampled
            centre of the mask.
        overwrite: Estimate even when the sample has maps.
        kernel_size: ESPIRiT kernel size.
        eigen_threshold: ESPIRiT singular-value threshold.
        crop: ESPIRiT eigenvalue crop threshold.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    def __init__(self, method: str = "lowres", *, num_low_frequencies: int | Sequence[int] |
                 None = None, overwrite: bool = False, kernel_size: int = 6,
                 eigen_threshold: float = 0.02, crop: float = 0.95, fft_centered: bool = True,
                 fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        if method not in ("lowres", "espirit"):
            raise ValueError(f"sensitivity_maps: expected method 'lowres' or 'espirit'; "
                             f"found {method!r}")
        self.method, self.overwrite = method, bool(overwrite)
        self.num_low_frequencies = num_low_frequencies
        self.espirit_args = {"kernel_size": kernel_size, "eigen_threshold": eigen_threshold,
                             "crop": crop}
        self.fft = FFTOptions(fft_centered, fft_normalization, spatial_dims)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Set ``sensitivity_maps`` (complex64 ``[C, H, W]``) when missing or overwriting."""
        if sample.get("sensitivity_maps") is not None and not self.overwrite:
            return sample
        sample = dict(sample)
        kspace = sample.get("masked_kspace", sample["kspace"])
        if kspace.shape[-3] == 1:
            sample["sensitivity_maps"] = torch.ones_like(kspace)
            return sample
        box = self._acs_box(sample, kspace)
        if self.method == "lowres":
            maps = estimate_sensitivity_maps_lowres(
                kspace, box if box[0] < kspace.shape[-2] else box[1], **self.fft.kwargs())
        else:
            maps = espirit(kspace, calib_size=box, centered=self.fft.fft_centered,
                           **self.espirit_args)
        sample["sensitivity_maps"] = maps
        return sample

    def _acs_box(self, sample: dict[str, Any], kspace: torch.Tensor) -> tuple[int, int]:
        if self.num_low_frequencies is not None:
            n = self.num_low_frequencies
            return (kspace.shape[-2], int(n)) if isinstance(n, int) else (int(n[0]), int(n[1]))
        if sample.get("mask") is None:
            return tuple(kspace.shape[-2:])
        h, w = count_center_lines(sample["mask"], self.fft.fft_centered)
        h = kspace.shape[-2] if sample["mask"].shape[-2] == 1 else h  # line mask: all rows
        if min(h, w) < 2:
            raise ValueError("sensitivity_maps: expected a fully sampled k-space centre in the "
                             f"mask; found an ACS box of {h}x{w}; set num_low_frequencies")
        return h, w

    def __repr__(self) -> str:
        return f"EstimateSensitivityMaps(method={self.method!r}, overwrite={self.overwrite})"


class _CoilCombination:
    """Base of the transforms that combine coil images by SENSE or RSS.

    Args:
        method: ``"sense"`` or ``"rss"``.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    _label = ""  # the YAML name, for error messages

    def __init__(self, method: str = "sense", *, fft_centered: bool = True,
                 fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        self.method = _check_method(method, self._label)
        self.fft = FFTOptions(fft_centered, fft_normalization, spatial_dims)

    def _combine(self, sample: dict[str, Any], key: str) -> torch.Tensor:
        """RSS (real) or SENSE (complex) image of the coil k-space ``sample[key]``."""
        coil_images = ifft2(sample[key], **self.fft.kwargs())
        if self.method == "rss":
            return rss_complex(coil_images, dim=-3)
        return sense_reduce(coil_images, sample["sensitivity_maps"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r})"


class Target(_CoilCombination):
    """Make ``target`` a float32 magnitude ``[H, W]``, computed from ``kspace`` if missing.

    YAML ``{name: target, method: sense}``. A computed target uses the fully sampled k-space:
    ``|sum_c conj(S_c) F^-1 k_c|`` (sense) or the RSS of the coil images (rss). The dataset
    gives ``max_value`` as the volume maximum (see
    :class:`~atommic_rec.data.SliceDataset`'s ``target_transform``); only when it is unknown
    (NaN, a dataset without one) does it fall back to the slice maximum of the target.

    Args:
        method: ``"sense"`` or ``"rss"``.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    _label = "target"

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Set ``target`` (float32 ``[H, W]``) and fill an unknown ``max_value``."""
        sample = dict(sample)
        target = sample.get("target")
        if target is None:
            target = self._combine(sample, "kspace")
        target = (target.abs() if target.is_complex() else target).float()
        grid = tuple(sample["kspace"].shape[-2:])
        if tuple(target.shape[-2:]) != grid:
            size = list(target.shape[-2:])
            raise ValueError(f"target: expected the k-space grid {list(grid)}; found "
                             f"{list(target.shape)}; set crop_size: {size} (or add "
                             f"{{name: crop, size: {size}}} before 'mask')")
        sample["target"] = target
        if math.isnan(float(sample.get("max_value", math.nan))):
            sample["max_value"] = float(target.max())
        return sample


class InitialImage(_CoilCombination):
    """Zero-filled ``initial_image`` (complex64 ``[H, W]``) from ``masked_kspace``.

    YAML ``{name: initial_image, method: sense}``: SENSE combination with the maps, or the RSS
    of the coil images (real, stored as complex64) for ``rss``.

    Args:
        method: ``"sense"`` or ``"rss"``.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    _label = "initial_image"

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Set ``initial_image``; needs ``masked_kspace`` (and maps for sense)."""
        sample = dict(sample)
        image = self._combine(sample, "masked_kspace")
        sample["initial_image"] = image.to(torch.complex64) if self.method == "rss" else image
        return sample


register_transform("sensitivity_maps", EstimateSensitivityMaps)
register_transform("target", Target)
register_transform("initial_image", InitialImage)
