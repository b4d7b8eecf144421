"""Writers of joint outputs: the per-volume HDF5, NIfTI label maps and the PNG panel.

Every file is written to a temporary name and renamed. The panel of a slice is
``target | reconstruction | |error| | segmentation overlay``: the three magnitude images on
one grey scale (the target's maximum) and the reconstruction with its predicted labels in
colour (SEG's :func:`~atommic_seg.models.writers.overlay_rgb`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from atommic_seg.models.writers import overlay_rgb, write_label_volume

__all__ = ["joint_panel", "write_joint_h5", "write_label_nifti", "write_rgb_png"]


def _tmp(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}"


def joint_panel(target: np.ndarray | None, reconstruction: np.ndarray,
                labels: np.ndarray) -> np.ndarray:
    """``target | reconstruction | |error| | overlay`` as one RGB image.

    Args:
        target: Magnitude ``[H, W]``, or None (prediction data without a reference: the
            panel is ``reconstruction | overlay``).
        reconstruction: Magnitude ``[H, W]``.
        labels: Predicted ``[H, W]`` class indices or ``[K, H, W]`` channels.

    Returns:
        uint8 ``[H, n * W, 3]``.
    """
    reconstruction = np.asarray(reconstruction, dtype=np.float32)
    grey = [reconstruction] if target is None else \
        [np.asarray(target, np.float32), reconstruction,
         np.abs(np.asarray(target, np.float32) - reconstruction)]
    scale = float(grey[0].max()) or 1.0
    tiles = [np.repeat((np.clip(g / scale, 0, 1) * 255).round()[..., None], 3, axis=-1)
             .astype(np.uint8) for g in grey]
    tiles.append(overlay_rgb(reconstruction, np.asarray(labels)))
    return np.concatenate(tiles, axis=1)


def write_rgb_png(image: np.ndarray, path: str) -> str:
    """Write a uint8 ``[H, W, 3]`` image as PNG; returns the path."""
    from PIL import Image

    tmp = _tmp(path)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def write_joint_h5(path: str, reconstruction: np.ndarray, segmentation: np.ndarray,
                   attrs: Mapping[str, Any]) -> str:
    """One volume: ``reconstruction`` float32 ``[S, H, W]`` and ``segmentation`` uint8.

    Args:
        path: Output ``.h5`` path.
        reconstruction: Magnitudes in file units ``[S, H, W]``.
        segmentation: ``[S, H, W]`` class indices or ``[S, K, H, W]`` channels.
        attrs: File attributes (model, source file, spacing, class names, ...).

    Returns:
        The path written.
    """
    import h5py

    tmp = _tmp(path)
    with h5py.File(tmp, "w") as f:
        f.create_dataset("reconstruction", data=np.asarray(reconstruction, dtype=np.float32))
        f.create_dataset("segmentation", data=np.asarray(segmentation, dtype=np.uint8),
                         compression="gzip")
        for key, value in attrs.items():
            f.attrs[key] = value
    os.replace(tmp, path)
    return path


def write_label_nifti(labels: np.ndarray, base: str, spacing: Sequence[float]) -> str:
    """NIfTI label map of a volume, voxel size from ``spacing`` (slice, row, column in mm).

    The array is stored ``[row, column, slice]`` (SEG's NIfTI layout, slices along the last
    axis) with the affine ``diag(row_mm, column_mm, slice_mm, 1)``.

    Args:
        labels: ``[S, H, W]`` class indices or ``[S, K, H, W]`` channels.
        base: Output path without suffix (``.nii.gz`` is added).
        spacing: Voxel size (slice, row, column) in mm.

    Returns:
        The path written.
    """
    affine = np.diag([float(spacing[1]), float(spacing[2]), float(spacing[0]), 1.0])
    return write_label_volume(labels, base, "nifti", affine=affine)
