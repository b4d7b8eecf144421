"""Writers for reconstruction outputs: metrics tables, HDF5 volumes, PNG previews, panels."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["format_table", "image_panel", "write_labelled_png", "write_metrics_csv",
           "write_panel_png", "write_png", "write_volume_h5"]

_UNITS = "magnitude (file units)"


def _tmp(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}"


def image_panel(target: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Side-by-side panel ``target | reconstruction | |error|`` scaled by the target max.

    Args:
        target: Magnitude image, float [H, W].
        reconstruction: Magnitude image, float [H, W].

    Returns:
        Float image in [0, 1], shape [1, H, 3W] (CHW, for TensorBoard's ``add_image``).
    """
    scale = float(target.max()) or 1.0
    row = torch.cat([target, reconstruction, (target - reconstruction).abs()], dim=-1) / scale
    return row.clamp(0, 1).unsqueeze(0).float().cpu()


def write_png(image: torch.Tensor | np.ndarray, path: str) -> str:
    """Write a magnitude image (or panel) as an 8-bit grayscale PNG scaled to its max."""
    from PIL import Image

    arr = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image,
                     dtype=np.float32).squeeze()
    arr = np.clip(arr / (float(arr.max()) or 1.0), 0, 1)
    tmp = _tmp(path)
    Image.fromarray((arr * 255).round().astype(np.uint8)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def _numpy(image: torch.Tensor | np.ndarray) -> np.ndarray:
    return np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image,
                      dtype=np.float32).squeeze()


def write_panel_png(target: torch.Tensor, reconstruction: torch.Tensor, path: str,
                    title: str = "") -> str:
    """Target, reconstruction and ``|error|`` side by side, titled, with colour bars.

    Target and reconstruction share the display range ``[0, max(target)]``; the error has
    its own range so small errors stay visible, its colour bar giving the values. Without
    matplotlib the grey-scale :func:`image_panel` PNG is written instead.

    Args:
        target: Magnitude image, float [H, W].
        reconstruction: Magnitude image, float [H, W].
        path: Output ``.png``.
        title: Prefix of the panel titles (e.g. the volume and slice).

    Returns:
        The path written.
    """
    from atommic_core.plots import image_panels

    t, r = _numpy(target), _numpy(reconstruction)
    top = float(t.max()) or 1.0
    prefix = f"{title}: " if title else ""
    written = image_panels([t, r, np.abs(t - r)],
                           [f"{prefix}target", "reconstruction", "|target - reconstruction|"],
                           path, _UNITS, vmax=[top, top, None], cmap=["gray", "gray", "magma"])
    return written or write_png(image_panel(target, reconstruction), path)


def write_labelled_png(image: torch.Tensor | np.ndarray, path: str, title: str) -> str:
    """One magnitude image with a title and a colour bar (plain PNG without matplotlib).

    Args:
        image: Magnitude image, float [H, W].
        path: Output ``.png``.
        title: Figure title (e.g. the volume and slice).

    Returns:
        The path written.
    """
    from atommic_core.plots import image_panels

    return image_panels([_numpy(image)], [title], path, _UNITS) or write_png(image, path)


def write_volume_h5(path: str, reconstruction: np.ndarray, attrs: Mapping[str, Any]) -> str:
    """Write one volume in the fastMRI submission layout: ``reconstruction`` [slices, H, W]."""
    import h5py

    tmp = _tmp(path)
    with h5py.File(tmp, "w") as f:
        f.create_dataset("reconstruction", data=reconstruction.astype(np.float32))
        for key, value in attrs.items():
            f.attrs[key] = value
    os.replace(tmp, path)
    return path


def write_metrics_csv(path: str, rows: list[dict[str, Any]]) -> str:
    """Write per-volume metric rows (dicts with the same keys) as CSV."""
    tmp = _tmp(path)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of dict rows (floats with 4 significant decimals)."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
