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

__all__ = ["display_slice", "format_summary", "overlay_figure", "overlay_rgb",
           "write_label_volume", "write_metrics_csv", "write_overlay_png"]

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


def display_slice(array: np.ndarray, affine: np.ndarray | None = None) -> np.ndarray:
    """Rows and columns of a NIfTI slice as viewers show it.

    A slice ``[X, Y]`` (voxel axes 0 and 1 of ``affine``) is reordered so that of its two
    world axes, the one first in R, A, S order runs left to right (R to the right, the
    neurological convention of nilearn/FSLeyes) and the other bottom to top (anterior or
    superior up); an axial RAS slice ``[64, 80]`` becomes ``[80, 64]``, nose up.

    Args:
        array: ``[X, Y]`` or ``[C, X, Y]`` (channels kept first).
        affine: The volume's 4x4 voxel-to-world affine; ``None`` keeps the array as is (HDF5
            slices are stored as they are meant to be seen).

    Returns:
        The reoriented view.
    """
    if affine is None:
        return array
    import nibabel as nib

    (w0, f0), (w1, f1) = nib.orientations.io_orientation(np.asarray(affine))[:2]
    out = np.asarray(array)
    if f0 < 0:
        out = np.flip(out, -2)
    if f1 < 0:
        out = np.flip(out, -1)
    if w0 > w1:  # the first axis must be the horizontal (lower world index) one
        out = np.swapaxes(out, -1, -2)
    return np.flip(np.swapaxes(out, -1, -2), -2)


def _label_index(labels: np.ndarray) -> np.ndarray:
    if labels.ndim == 3:  # multilabel: channel c gets colour c + 1 where set
        index = np.zeros(labels.shape[1:], dtype=np.int64)
        for c in range(labels.shape[0]):
            index[labels[c] > 0] = c + 1
        return index
    return labels.astype(np.int64)


def _colour(index: np.ndarray | int) -> np.ndarray:
    return _PALETTE[1 + (np.asarray(index) - 1) % (len(_PALETTE) - 1)]


def _blend(image: np.ndarray, index: np.ndarray, alpha: float) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    lo, hi = float(image.min()), float(image.max())
    gray = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    rgb = np.repeat(gray[..., None] * 255, 3, axis=-1)
    mask = (index > 0)[..., None]
    rgb = np.where(mask, (1 - alpha) * rgb + alpha * _colour(index), rgb)
    return rgb.clip(0, 255).astype(np.uint8)


def overlay_rgb(image: np.ndarray, labels: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """A slice with its labels blended in colour, as a uint8 ``[H, W, 3]`` array (as stored).

    Args:
        image: ``[H, W]`` float slice (any range; scaled to its min/max).
        labels: ``[H, W]`` class indices or ``[C, H, W]`` binary channels.
        alpha: Opacity of the label colours.
    """
    return _blend(np.asarray(image), _label_index(np.asarray(labels)), alpha)


def overlay_figure(rgb: np.ndarray, legend: Sequence[tuple[str, np.ndarray]], title: str
                   ) -> object | None:
    """A matplotlib figure of an overlay with a legend of class names (None without it)."""
    from atommic_core.plots import matplotlib_or_none

    plt = matplotlib_or_none()
    if plt is None:
        return None
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(4.2, 4.2 * rgb.shape[0] / max(rgb.shape[1], 1) + 0.4))
    ax.imshow(rgb, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(handles=[Patch(color=colour / 255.0, label=name) for name, colour in legend],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def write_overlay_png(image: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                      alpha: float = 0.4, class_names: Sequence[str] | None = None,
                      affine: np.ndarray | None = None) -> str:
    """Write a slice with its labels blended in colour.

    Without ``class_names`` (or without matplotlib) the PNG holds the blended pixels only;
    with them it is a figure with a title and a legend naming the colour of each class.

    Args:
        image: ``[H, W]`` float slice (any range; scaled to its min/max).
        labels: ``[H, W]`` class indices or ``[C, H, W]`` binary channels.
        path: Output ``.png`` path.
        alpha: Opacity of the label colours.
        class_names: Names of the classes (multiclass: index 0 is the background).
        affine: NIfTI affine of the volume, to show the slice as viewers do (see
            :func:`display_slice`); ``None`` for HDF5 slices.

    Returns:
        The path written.
    """
    from PIL import Image

    labels = np.asarray(labels)
    index = display_slice(_label_index(labels), affine)
    rgb = _blend(display_slice(np.asarray(image), affine), index, alpha)
    out = Path(path)
    if class_names is not None:
        names = list(class_names)[1:] if labels.ndim == 2 else list(class_names)
        legend = [(name, _colour(k + 1)) for k, name in enumerate(names)]
        fig = overlay_figure(rgb, legend, out.stem)
        if fig is not None:
            from atommic_core.plots import save_figure

            return save_figure(fig, out)
    tmp = _tmp(out)
    Image.fromarray(rgb).save(tmp, format="PNG")
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
