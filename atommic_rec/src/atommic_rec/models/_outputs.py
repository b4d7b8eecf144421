"""Writers for reconstruction outputs: metrics tables, HDF5 volumes, PNG previews, panels."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["format_table", "image_panel", "write_metrics_csv", "write_png", "write_volume_h5"]


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
