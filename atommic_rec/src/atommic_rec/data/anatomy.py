"""Image sources for the demo data: the ICBM152 templates (nilearn wheel) or a phantom.

The templates (T1 and the grey/white-matter probability maps) are found with
``importlib.util.find_spec("nilearn")`` (nilearn itself is never imported) and read with
nibabel. Reference: Fonov et al., "Unbiased average age-appropriate atlases for pediatric
studies", NeuroImage 54(1), 2011 (ICBM 2009a nonlinear symmetric).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["ORIENTATIONS", "TEMPLATE_NAME", "find_icbm152_template", "phantom_slices",
           "slice_coordinates", "smooth_warp", "template_slices"]

TEMPLATE_NAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
# slice plane -> (row axis, column axis, slice axis) of the [x, y, z] (RAS) template;
# rows run anterior -> posterior (axial) or superior -> inferior (coronal, sagittal)
ORIENTATIONS = {"axial": (1, 0, 2), "coronal": (2, 0, 1), "sagittal": (2, 1, 0)}


def find_icbm152_template(tissue: str = "t1") -> Path | None:
    """Path of an ICBM152 map shipped in the nilearn wheel, or None if absent.

    Args:
        tissue: ``"t1"`` (the T1 template), ``"gm"`` or ``"wm"`` (probability maps, 0-255).
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    name = TEMPLATE_NAME.replace("_t1_", f"_{tissue}_")
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "data" / name
        if path.is_file():
            return path
    return None


Warp = Callable[[np.ndarray], np.ndarray]


def smooth_warp(rng: np.random.Generator, amplitude: float = 4.0, wavelength: float = 80.0,
                waves: int = 6) -> Warp:
    """A smooth random elastic deformation: a sum of random 3D sinusoidal displacements.

    Args:
        rng: Generator of the directions, phases and amplitudes.
        amplitude: Peak displacement per wave, in voxels (mm).
        wavelength: Typical wavelength, in voxels; long waves keep the deformation smooth
            (the strain of one wave is at most ``2 pi amplitude / wavelength``, 0.3 with
            the defaults).
        waves: Number of sinusoids.

    Returns:
        A function ``coords [3, ...] -> coords + displacement(coords)`` in voxel units.
    """
    k = rng.standard_normal((waves, 3))
    k *= (2 * np.pi / wavelength) * rng.uniform(0.7, 1.4, (waves, 1)) / \
        np.linalg.norm(k, axis=1, keepdims=True)
    directions = rng.standard_normal((waves, 3))
    directions *= amplitude * rng.uniform(0.5, 1.0, (waves, 1)) / \
        np.linalg.norm(directions, axis=1, keepdims=True)
    phases = rng.uniform(0, 2 * np.pi, waves)

    def warp(coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=np.float64)
        for kw, dw, pw in zip(k, directions, phases, strict=True):
            wave = np.sin(np.tensordot(kw, coords, axes=1) + pw)
            out += dw.reshape(3, *([1] * (coords.ndim - 1))) * wave
        return out

    return warp


def slice_coordinates(shape: tuple[int, int, int], size: int, centers: np.ndarray,
                      angle: float, shift: tuple[float, float], *, orientation: str = "axial",
                      fov: float | None = None, warp: Warp | None = None) -> np.ndarray:
    """Voxel coordinates ``[3, slices, size, size]`` of slices through a ``[x, y, z]`` volume.

    Args:
        shape: Volume shape ``(X, Y, Z)`` (RAS voxel order, 1 mm isotropic).
        size: Output side in pixels.
        centers: Voxel positions of the slices along the slice axis (float).
        angle: In-plane rotation in radians.
        shift: In-plane translation as a fraction of the field of view.
        orientation: ``"axial"``, ``"coronal"`` or ``"sagittal"`` (see :data:`ORIENTATIONS`).
        fov: Field of view in mm; default ``min(200, 1.05 * the largest in-plane extent)``,
            which covers the skull-stripped brain (~145 x 180 mm axially).
        warp: Optional deformation of the sampling coordinates (see :func:`smooth_warp`).

    Returns:
        Float64 coordinates for ``scipy.ndimage.map_coordinates``.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"slice_coordinates: expected orientation in {list(ORIENTATIONS)}; "
                         f"found {orientation!r}")
    row_axis, col_axis, slice_axis = ORIENTATIONS[orientation]
    n_row, n_col = shape[row_axis], shape[col_axis]
    fov = fov or min(200.0, 1.05 * max(n_row, n_col))
    v, u = np.meshgrid(np.linspace(-0.5, 0.5, size), np.linspace(-0.5, 0.5, size),
                       indexing="ij")  # v: rows (top first), u: columns (left -> right)
    cos, sin = np.cos(angle), np.sin(angle)
    ru, rv = cos * u - sin * v + shift[1], sin * u + cos * v + shift[0]
    coords = np.empty((3, len(centers), size, size))
    coords[col_axis] = (n_col - 1) / 2 + ru * fov
    coords[row_axis] = (n_row - 1) / 2 - rv * fov
    coords[slice_axis] = np.asarray(centers, dtype=np.float64)[:, None, None]
    return coords if warp is None else warp(coords)


def template_slices(volume: np.ndarray, size: int, centers: np.ndarray, angle: float,
                    shift: tuple[float, float], **kwargs: Any) -> np.ndarray:
    """Slices of a ``[x, y, z]`` volume resampled to ``size x size`` (linear).

    Args:
        volume: Template ``[X, Y, Z]`` (RAS voxel order, 1 mm isotropic).
        size: Output side in pixels.
        centers: Voxel positions of the slices along the slice axis (axial: z).
        angle: In-plane rotation in radians.
        shift: In-plane translation as a fraction of the field of view.
        **kwargs: ``orientation``, ``fov``, ``warp`` of :func:`slice_coordinates`.

    Returns:
        Float32 ``[len(centers), size, size]``, values in [0, 1] (divided by the volume max);
        axial slices have anterior at the top.
    """
    coords = slice_coordinates(volume.shape, size, centers, angle, shift, **kwargs)
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
