"""Writers for quantitative outputs: HDF5 maps, NIfTI per map, PNG panels with colour bars."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["colour_panel", "write_map_nifti", "write_panel_png", "write_qmaps_h5"]

# Colour-map anchors (RGB 0..1): a perceptual sequential map and a blue-white-red diverging map.
_SEQUENTIAL = np.array([[0.05, 0.03, 0.23], [0.35, 0.08, 0.5], [0.72, 0.21, 0.47],
                        [0.96, 0.47, 0.27], [0.99, 0.9, 0.6]])
_DIVERGING = np.array([[0.13, 0.4, 0.67], [0.57, 0.77, 0.87], [0.97, 0.97, 0.97],
                       [0.96, 0.65, 0.51], [0.7, 0.09, 0.17]])


def _tmp(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}"


def _colourise(values: np.ndarray, low: float, high: float, diverging: bool) -> np.ndarray:
    """Map ``values`` in [low, high] through the anchors to uint8 RGB ``[..., 3]``."""
    anchors = _DIVERGING if diverging else _SEQUENTIAL
    t = np.clip((values - low) / max(high - low, 1e-12), 0, 1) * (len(anchors) - 1)
    i = np.minimum(t.astype(int), len(anchors) - 2)
    frac = (t - i)[..., None]
    rgb = anchors[i] * (1 - frac) + anchors[i + 1] * frac
    return (rgb * 255).round().astype(np.uint8)


def colour_panel(images: Sequence[np.ndarray], titles: Sequence[str], label: str,
                 value_range: tuple[float, float] | None = None, diverging: bool = False,
                 mask: np.ndarray | None = None) -> Any:
    """Side-by-side colour images sharing one colour bar with ticks and the unit.

    Args:
        images: 2D arrays of one shape (e.g. target, estimate, |error|).
        titles: One title per image.
        label: Colour-bar label with the unit, e.g. ``"R2* (1/s)"``.
        value_range: ``(low, high)`` of the bar (None: 1st-99th percentile in the mask).
        diverging: Blue-white-red symmetric map (for signed maps such as B0).
        mask: Optional 2D mask: pixels outside are black.

    Returns:
        A ``PIL.Image`` (RGB).
    """
    from PIL import Image, ImageDraw

    stack = np.stack([np.asarray(im, dtype=np.float64) for im in images])
    inside = np.ones(stack.shape[1:], bool) if mask is None else np.asarray(mask) > 0.5
    if value_range is None:
        values = stack[:, inside] if inside.any() else stack.reshape(len(stack), -1)
        low, high = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
        if diverging:
            low, high = -max(abs(low), abs(high)), max(abs(low), abs(high))
        value_range = (float(low), float(high) if high > low else float(low) + 1.0)
    h, w = stack.shape[1:]
    scale = max(1, 192 // max(h, w))
    title_h, bar_w, gap = 20, 70, 4
    canvas = Image.new("RGB", (len(stack) * (w * scale + gap) + bar_w,
                               h * scale + title_h + 8), "black")
    draw = ImageDraw.Draw(canvas)
    for k, (image, title) in enumerate(zip(stack, titles, strict=True)):
        rgb = _colourise(image, *value_range, diverging) * inside[..., None]
        tile = Image.fromarray(rgb.astype(np.uint8)).resize((w * scale, h * scale),
                                                             Image.NEAREST)
        x0 = k * (w * scale + gap)
        canvas.paste(tile, (x0, title_h))
        draw.text((x0 + 2, 1), title, fill="white")
    _colour_bar(canvas, draw, value_range, label, diverging, left=canvas.width - bar_w + 6,
                top=title_h, height=h * scale)
    return canvas


def _colour_bar(canvas: Any, draw: Any, value_range: tuple[float, float], label: str,
                diverging: bool, left: int, top: int, height: int) -> None:
    from PIL import Image

    ramp = np.linspace(value_range[1], value_range[0], height)[:, None].repeat(10, 1)
    canvas.paste(Image.fromarray(_colourise(ramp, *value_range, diverging)), (left, top))
    for frac in (0.0, 0.5, 1.0):
        y = top + round(frac * (height - 1))
        value = value_range[1] - frac * (value_range[1] - value_range[0])
        draw.line([(left - 4, y), (left - 1, y)], fill="white")  # tick left of the bar
        draw.text((left + 13, y - 5), f"{value:.3g}", fill="white")
    draw.text((left - 4, 1), label, fill="white")


def write_panel_png(image: Any, path: str) -> str:
    """Save a PIL image as PNG through a temporary file."""
    tmp = _tmp(path)
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def write_qmaps_h5(path: str, maps: np.ndarray, names: Sequence[str], units: Sequence[str],
                   attrs: Mapping[str, Any], mask: np.ndarray | None = None) -> str:
    """Write ``qmaps`` ``[slices, 4, H, W]`` and each map as ``<name>_map`` ``[slices, H, W]``.

    Args:
        path: Output ``.h5`` path.
        maps: Float maps ``[slices, 4, H, W]`` in physical units.
        names: Map names (``R2star``, ...).
        units: Unit of each map.
        attrs: File attributes (model, source, signal model, ...).
        mask: Optional brain mask ``[slices, H, W]`` stored as ``anatomy_mask``.

    Returns:
        ``path``.
    """
    import h5py

    tmp = _tmp(path)
    with h5py.File(tmp, "w") as f:
        f.create_dataset("qmaps", data=maps.astype(np.float32))
        for k, (name, unit) in enumerate(zip(names, units, strict=True)):
            f.create_dataset(f"{name}_map", data=maps[:, k].astype(np.float32))
            f[f"{name}_map"].attrs["unit"] = unit
        if mask is not None:
            f.create_dataset("anatomy_mask", data=mask.astype(np.float32))
        f.attrs["map_names"] = json.dumps(list(names))
        f.attrs["units"] = json.dumps(dict(zip(names, units, strict=True)))
        for key, value in attrs.items():
            f.attrs[key] = value
    os.replace(tmp, path)
    return path


def write_map_nifti(path: str, volume: np.ndarray, affine: np.ndarray | None, unit: str) -> str:
    """Write one map ``[slices, H, W]`` as NIfTI (voxel axes slice, row, column).

    Args:
        path: Output ``.nii.gz`` path.
        volume: Float map volume.
        affine: 4x4 voxel-to-mm affine of the stored axes (None: identity, 1 mm voxels).
        unit: Written to the header description.

    Returns:
        ``path``.
    """
    import nibabel

    image = nibabel.Nifti1Image(np.asarray(volume, dtype=np.float32),
                                np.eye(4) if affine is None else np.asarray(affine))
    image.header["descrip"] = f"unit: {unit}"[:79].encode()
    tmp = _tmp(path) + ".nii.gz"
    nibabel.save(image, tmp)
    os.replace(tmp, path)
    return path
