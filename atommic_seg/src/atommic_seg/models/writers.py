"""Write segmentation outputs: label volumes (NIfTI/HDF5), PNG overlays, metrics CSV.

Label volumes use the readers' layout, slices first: ``[S, H, W]`` (multiclass, uint8) or
``[S, C, H, W]`` (multilabel, uint8). Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from atommic_seg.data.readers import to_nifti_layout
from atommic_seg.metrics import METRIC_NAMES

__all__ = ["format_summary", "overlay_rgb", "write_label_volume", "write_metrics_csv",
           "write_overlay_png"]

# background transparent, then distinct colours (RGB)
_PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25],
                     [145, 30, 180], [70, 240, 240], [245, 130, 48], [240, 50, 230]],
                    dtype=np.float32)


def _tmp(path: Path) -> Path:
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def write_label_volume(labels: np.ndarray, path: str | os.PathLike, fmt: str,
                       affine: np.ndarray | None = None,
                       spacing: Sequence[float] | None = None) -> str:
    """Write one predicted label volume.

    Args:
        labels: ``[S, H, W]`` or ``[S, C, H, W]`` integer labels.
        path: Output path without suffix; ``.nii.gz`` or ``.h5`` is added.
        fmt: ``"nifti"`` (back to ``[X, Y, Z(, C)]`` with ``affine``) or ``"hdf5"``
            (dataset ``segmentation``, attribute ``spacing``).
        affine: 4x4 affine of the input image (NIfTI).
        spacing: Voxel size (slice, H, W) in mm (HDF5).

    Returns:
        The path written.
    """
    labels = np.asarray(labels).astype(np.uint8)
    if fmt == "nifti":
        import nibabel as nib

        out = Path(f"{path}.nii.gz")
        img = nib.Nifti1Image(to_nifti_layout(labels), affine if affine is not None
                              else np.eye(4))
        tmp = _tmp(out)
        nib.save(img, str(tmp))
    elif fmt == "hdf5":
        import h5py

        out = Path(f"{path}.h5")
        tmp = _tmp(out)
        with h5py.File(tmp, "w") as f:
            f.create_dataset("segmentation", data=labels, compression="gzip")
            f.attrs["spacing"] = list(spacing) if spacing is not None else [1.0, 1.0, 1.0]
    else:
        raise ValueError(f"output format must be nifti or hdf5, found {fmt!r}")
    os.replace(tmp, out)
    return str(out)


def overlay_rgb(image: np.ndarray, labels: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """A slice with its labels blended in colour, as an RGB array.

    Args:
        image: ``[H, W]`` float slice (any range; scaled to its min/max).
        labels: ``[H, W]`` class indices or ``[C, H, W]`` binary channels.
        alpha: Opacity of the label colours.

    Returns:
        uint8 ``[H, W, 3]``.
    """
    image = np.asarray(image, dtype=np.float32)
    lo, hi = float(image.min()), float(image.max())
    gray = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    rgb = np.repeat(gray[..., None] * 255, 3, axis=-1)
    if labels.ndim == 3:  # multilabel: channel c gets colour c + 1 where set
        index = np.zeros(labels.shape[1:], dtype=np.int64)
        for c in range(labels.shape[0]):
            index[labels[c] > 0] = c + 1
    else:
        index = labels.astype(np.int64)
    colours = _PALETTE[1 + (index - 1) % (len(_PALETTE) - 1)]
    mask = (index > 0)[..., None]
    rgb = np.where(mask, (1 - alpha) * rgb + alpha * colours, rgb)
    return rgb.clip(0, 255).astype(np.uint8)


def write_overlay_png(image: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                      alpha: float = 0.4) -> str:
    """Write a slice with its labels blended in colour (see :func:`overlay_rgb`).

    Args:
        image: ``[H, W]`` float slice (any range; scaled to its min/max).
        labels: ``[H, W]`` class indices or ``[C, H, W]`` binary channels.
        path: Output ``.png`` path.
        alpha: Opacity of the label colours.

    Returns:
        The path written.
    """
    from PIL import Image

    out = Path(path)
    tmp = _tmp(out)
    Image.fromarray(overlay_rgb(image, labels, alpha)).save(tmp, format="PNG")
    os.replace(tmp, out)
    return str(out)


def write_metrics_csv(rows: list[dict], path: str | os.PathLike) -> str:
    """Write rows ``{case, class, <metrics>}`` as CSV (NaN written as ``nan``)."""
    out = Path(path)
    tmp = _tmp(out)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["case", "class", *METRIC_NAMES])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v)
                             for k, v in row.items()})
    os.replace(tmp, out)
    return str(out)


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    """Render :func:`atommic_seg.metrics.summarize` output as an aligned text table."""
    header = f"{'class':<16}" + "".join(f"{m:>10}" for m in METRIC_NAMES)
    lines = [header, "-" * len(header)]
    for name, values in summary.items():
        cells = "".join(f"{'nan' if math.isnan(v) else f'{v:.4f}':>10}"
                        for v in (values[m] for m in METRIC_NAMES))
        lines.append(f"{name:<16}{cells}")
    return "\n".join(lines)
