"""Image sources for the demo data: the ICBM152 T1 template (nilearn wheel) or a phantom.

The template is found with ``importlib.util.find_spec("nilearn")`` (nilearn itself is never
imported) and read with nibabel. Reference: Fonov et al., "Unbiased average age-appropriate
atlases for pediatric studies", NeuroImage 54(1), 2011 (ICBM 2009a nonlinear symmetric).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = ["TEMPLATE_NAME", "find_icbm152_template", "phantom_slices", "template_slices"]

TEMPLATE_NAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def find_icbm152_template() -> Path | None:
    """Path of the ICBM152 T1 template shipped in the nilearn wheel, or None if absent."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "data" / TEMPLATE_NAME
        if path.is_file():
            return path
    return None


def template_slices(volume: np.ndarray, size: int, centers: np.ndarray, angle: float,
                    shift: tuple[float, float]) -> np.ndarray:
    """Axial slices of a ``[x, y, z]`` volume resampled to ``size x size`` (linear).

    Args:
        volume: Template ``[X, Y, Z]`` (RAS voxel order, 1 mm isotropic).
        size: Output side in pixels; the field of view (200 mm) covers the brain.
        centers: z voxel positions of the slices (float).
        angle: In-plane rotation in radians.
        shift: In-plane translation as a fraction of the field of view.

    Returns:
        Float32 ``[len(centers), size, size]`` with anterior at the top, values in [0, 1].
    """
    nx, ny, _ = volume.shape
    fov = min(200.0, 1.05 * max(nx, ny))  # mm: the skull-stripped brain spans ~145 x 180 mm
    v, u = np.meshgrid(np.linspace(-0.5, 0.5, size), np.linspace(-0.5, 0.5, size),
                       indexing="ij")  # v: rows (top = anterior), u: columns (left -> right)
    cos, sin = np.cos(angle), np.sin(angle)
    ru, rv = cos * u - sin * v + shift[1], sin * u + cos * v + shift[0]
    x = (nx - 1) / 2 + ru * fov
    y = (ny - 1) / 2 - rv * fov
    coords = np.stack([np.broadcast_to(x, (len(centers), size, size)),
                       np.broadcast_to(y, (len(centers), size, size)),
                       np.broadcast_to(centers[:, None, None], (len(centers), size, size))])
    out = ndimage.map_coordinates(volume.astype(np.float32, copy=False), coords, order=1, cval=0.0)
    return (out / max(float(volume.max()), 1e-6)).astype(np.float32)


# Modified Shepp-Logan: (intensity, semi-axis a, semi-axis b, x0, y0, angle in degrees)
_ELLIPSES = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0), (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18), (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0), (0.1, 0.046, 0.046, 0.0, 0.1, 0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0), (0.1, 0.046, 0.023, -0.08, -0.605, 0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0), (0.1, 0.023, 0.046, 0.06, -0.605, 0),
]


def phantom_slices(size: int, positions: np.ndarray, angle: float,
                   shift: tuple[float, float]) -> np.ndarray:
    """Shepp-Logan-like ellipsoid slices (pure numpy fallback when nilearn is absent).

    Args:
        size: Output side in pixels.
        positions: Slice positions in (-1, 1); ellipses shrink away from 0 like ellipsoids.
        angle: In-plane rotation in radians.
        shift: In-plane translation as a fraction of the field of view.

    Returns:
        Float32 ``[len(positions), size, size]`` in [0, 1].
    """
    y, x = np.meshgrid(np.linspace(1, -1, size), np.linspace(-1, 1, size), indexing="ij")
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = cos * x + sin * y - 2 * shift[1], -sin * x + cos * y + 2 * shift[0]
    out = np.zeros((len(positions), size, size), dtype=np.float32)
    for i, z in enumerate(positions):
        for k, (value, a, b, x0, y0, deg) in enumerate(_ELLIPSES):
            depth = 0.9 if k < 2 else 0.5  # small structures span fewer slices
            shrink = 1 - (z / depth) ** 2
            if shrink <= 0:
                continue
            t = np.deg2rad(deg)
            xr, yr = (x - x0) * np.cos(t) + (y - y0) * np.sin(t), \
                -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
            out[i] += value * ((xr / a) ** 2 + (yr / b) ** 2 <= shrink)
    return np.clip(out, 0, None)
