"""Transforms that mix coils before anything else: noise pre-whitening and coil compression.

Both are linear maps over the coil axis of the fully sampled ``kspace`` (before ``mask``), so
they commute with the image-domain crop and with the FFT. Stored ``sensitivity_maps`` are
mixed the same way and renormalised to unit root-sum-of-squares; maps estimated by the
``sensitivity_maps`` transform afterwards come from the mixed k-space.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from atommic_rec.physics import rss_complex
from atommic_rec.physics.coil_compression import (
    apply_coil_matrix,
    apply_gdcc,
    gdcc_compression_matrices,
    mix_coils_per_row,
    noise_whitening_matrix,
    svd_compression_matrix,
)
from atommic_rec.transforms.compose import register_transform

__all__ = ["NOISE_KEY", "CompressCoils", "Prewhiten"]

LOG = logging.getLogger("atommic_core.rec")
NOISE_KEY = "noise"  # the HDF5 dataset of a noise scan, complex [coils, ...samples]
_METHODS = ("svd", "gdcc")


def _unit_rss(maps: torch.Tensor) -> torch.Tensor:
    norm = rss_complex(maps, dim=-3).unsqueeze(-3)
    return torch.where(norm > 0, maps / norm.clamp_min(1e-12), torch.zeros_like(maps))


def _check_before_mask(sample: dict[str, Any], label: str) -> None:
    if "masked_kspace" in sample:
        raise ValueError(f"{label}: expected to run before 'mask' (it mixes the coils of the "
                         "fully sampled kspace); reorder the transforms")


class Prewhiten:
    """Noise pre-whitening from the file's noise scan (YAML ``{name: prewhiten}``).

    With the sample's ``noise`` (the HDF5 dataset ``noise``, complex ``[coils, ...]``, read by
    :class:`~atommic_rec.data.SliceDataset`), k-space and maps become ``W k`` and ``W S``
    (renormalised) with ``W`` from :func:`~atommic_rec.physics.coil_compression.
    noise_whitening_matrix`: the noise of every virtual coil then has unit variance and no
    correlation. A stored target is on the unwhitened scale, so it is dropped and recomputed
    from the whitened k-space by ``target`` (``max_value`` then becomes the slice maximum).
    Without a noise scan the sample passes unchanged and one warning line says so.
    """

    def __init__(self) -> None:
        self._warned = False

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Whiten ``kspace`` (and ``sensitivity_maps``) with the sample's ``noise``."""
        _check_before_mask(sample, "prewhiten")
        sample = dict(sample)
        noise = sample.pop(NOISE_KEY, None)
        if noise is None:
            if not self._warned:
                LOG.warning("prewhiten: %s has no %r dataset (a noise scan); k-space is left "
                            "unwhitened (logged once)", sample.get("fname"), NOISE_KEY)
                self._warned = True
            return sample
        coils = sample["kspace"].shape[-3]
        if noise.shape[0] != coils:
            raise ValueError(f"prewhiten: expected the noise scan as [coils={coils}, ...samples]; "
                             f"found shape {list(noise.shape)}")
        matrix = noise_whitening_matrix(noise)
        sample["kspace"] = apply_coil_matrix(sample["kspace"], matrix)
        if sample.get("sensitivity_maps") is not None:
            sample["sensitivity_maps"] = _unit_rss(
                apply_coil_matrix(sample["sensitivity_maps"], matrix))
        sample.pop("target", None)
        sample["max_value"] = math.nan
        return sample

    def __repr__(self) -> str:
        return "Prewhiten()"


class CompressCoils:
    """Compress to ``num_virtual_coils`` (YAML ``{name: coil_compression, method: svd, ...}``).

    ``svd`` projects every location on the strongest singular vectors of the calibration
    columns; ``gdcc`` (geometric decomposition, Zhang et al. MRM 2013) uses one aligned
    projection per readout position, which keeps more signal with few virtual coils for
    Cartesian data. The calibration region is the central ``calib_lines`` phase-encoding
    columns of ``kspace``. A stored target is kept (compression discards little signal).

    Args:
        num_virtual_coils: Virtual coils kept (ATOMMIC's fastMRI brain setting uses 1); data
            with fewer coils are left as they are (with as many: rotated into the basis).
        method: ``svd`` or ``gdcc``.
        calib_lines: Central phase-encoding columns used to compute the compression.
        fft_centered: FFT convention of the data (the hybrid space of ``gdcc``).
    """

    def __init__(self, num_virtual_coils: int, method: str = "svd", calib_lines: int = 24, *,
                 fft_centered: bool = True) -> None:
        if method not in _METHODS:
            raise ValueError(f"coil_compression: expected method in {_METHODS}; found "
                             f"{method!r}")
        if int(num_virtual_coils) < 1:
            raise ValueError("coil_compression: expected num_virtual_coils >= 1; found "
                             f"{num_virtual_coils}")
        self.num_virtual_coils = int(num_virtual_coils)
        self.method = method
        self.calib_lines = int(calib_lines)
        self.centered = bool(fft_centered)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Replace ``kspace`` (and ``sensitivity_maps``) by their virtual coils."""
        _check_before_mask(sample, "coil_compression")
        kspace = sample["kspace"]
        if kspace.shape[-3] < self.num_virtual_coils:
            return sample
        sample = dict(sample)
        mix_kspace, mix_images = self._mixers(kspace)
        sample["kspace"] = mix_kspace(kspace)
        if sample.get("sensitivity_maps") is not None:
            sample["sensitivity_maps"] = _unit_rss(mix_images(sample["sensitivity_maps"]))
        return sample

    def _mixers(self, kspace: torch.Tensor) -> tuple[Callable, Callable]:
        """The compression of this slice, for k-space and for image-domain data (maps)."""
        if self.method == "svd":
            matrix = svd_compression_matrix(kspace, self.num_virtual_coils, self.calib_lines)
            mix = partial(apply_coil_matrix, matrix=matrix)
            return mix, mix
        matrices = gdcc_compression_matrices(kspace, self.num_virtual_coils, self.calib_lines,
                                             centered=self.centered)
        # image rows are the hybrid space's readout positions: the same per-row mixing
        return (partial(apply_gdcc, matrices=matrices, centered=self.centered),
                partial(mix_coils_per_row, matrices=matrices))

    def __repr__(self) -> str:
        return (f"CompressCoils(num_virtual_coils={self.num_virtual_coils}, "
                f"method={self.method!r})")


register_transform("prewhiten", Prewhiten)
register_transform("coil_compression", CompressCoils)
