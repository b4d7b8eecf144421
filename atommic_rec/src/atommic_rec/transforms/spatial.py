"""Centre crop and zero-fill padding of the image grid (k-space via the image domain)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from atommic_rec.physics import fft2, ifft2
from atommic_rec.transforms._fft_opts import FFTOptions
from atommic_rec.transforms.compose import register_transform

__all__ = ["Crop", "ZeroPad", "center_crop_or_pad"]


def center_crop_or_pad(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Centre-crop or zero-pad the last two dims of ``x`` to ``size``.

    Args:
        x: Tensor ``[..., H, W]`` (any dtype).
        size: Target ``(H', W')``.

    Returns:
        Tensor ``[..., H', W']``; the centre pixel (index ``n // 2``) stays the centre.
    """
    out = x
    for dim, new in zip((-2, -1), size, strict=True):
        old = out.shape[dim]
        if new < old:
            start = old // 2 - new // 2
            out = out.narrow(dim, start, new)
        elif new > old:
            before = new // 2 - old // 2
            pad = [0, 0, 0, 0]
            pad[(2 if dim == -2 else 0):(4 if dim == -2 else 2)] = [before, new - old - before]
            out = F.pad(out, pad) if not out.is_complex() else torch.complex(
                F.pad(out.real, pad), F.pad(out.imag, pad))
    return out


class _Resize:
    """Resize k-space (through the image domain), maps and target to ``size``."""

    grow: bool = False
    label: str = ""

    def __init__(self, size: Sequence[int], *, fft_centered: bool = True,
                 fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"{self.label}: expected size [H, W] of positive ints; found {size}")
        self.size = tuple(int(s) for s in size)
        self.fft = FFTOptions(fft_centered, fft_normalization, spatial_dims)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Resize ``kspace``, ``sensitivity_maps`` and ``target``; must run before ``mask``."""
        if "masked_kspace" in sample:
            raise ValueError(f"{self.label}: expected to run before 'mask' (undersampled k-space "
                             "cannot be resized consistently); reorder the transforms")
        sample = dict(sample)
        kspace = sample["kspace"]
        self._check(kspace.shape[-2:])
        image = center_crop_or_pad(ifft2(kspace, **self.fft.kwargs()), self.size)
        sample["kspace"] = fft2(image, **self.fft.kwargs())
        for key in ("sensitivity_maps", "target"):
            if sample.get(key) is not None:
                sample[key] = center_crop_or_pad(sample[key], self.size)
        return sample

    def _check(self, shape: Sequence[int]) -> None:
        if any((new > old) != self.grow and new != old
               for new, old in zip(self.size, shape, strict=True)):
            verb = "larger" if self.grow else "smaller"
            raise ValueError(f"{self.label}: expected size {list(self.size)} {verb} than or equal "
                             f"to the k-space grid; found {list(shape)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={list(self.size)})"


class Crop(_Resize):
    """Centre-crop the image grid to ``size`` (YAML ``{name: crop, size: [H, W]}``).

    k-space is cropped in the image domain (``ifft2`` -> crop -> ``fft2``); maps and target are
    cropped directly. A target already at ``size`` is left as is.

    Args:
        size: Output ``[H, W]``.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    label = "crop"


class ZeroPad(_Resize):
    """Zero-fill pad the image grid to ``size`` (YAML ``{name: pad, size: [H, W]}``).

    Useful to batch volumes of slightly different widths. k-space is padded in the image
    domain, so the acquired k-space is interpolated, not extended.

    Args:
        size: Output ``[H, W]``.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    grow = True
    label = "pad"


register_transform("crop", Crop)
register_transform("pad", ZeroPad)
