"""Per-volume metrics of both tasks, each under its collection's named convention.

Reconstruction: REC's :class:`~atommic_rec.metrics.VolumeMetrics` (SSIM/PSNR/NMSE of the
whole volume in file units; ``fastmri`` by default, ``atommic`` as an option; see
:mod:`atommic_rec.metrics`). Segmentation: SEG's
:func:`~atommic_seg.metrics.segmentation_metrics` on the whole predicted label volume
``[slices, H, W]`` (Dice, IoU, precision, recall, F1, HD95, ASD with the file's ``spacing``;
background left out for multiclass; a class absent from prediction and target is NaN and
skipped by means; see :mod:`atommic_seg.metrics`), one row per volume and class.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from atommic_rec.metrics import EvaluationConvention, VolumeMetrics
from atommic_seg.metrics import segmentation_metrics

__all__ = ["JointVolumeMetrics", "segmentation_rows"]


def segmentation_rows(name: str, prediction: np.ndarray, target: np.ndarray, num_classes: int,
                      class_names: Sequence[str], spacing: Sequence[float],
                      multilabel: bool = False) -> list[dict[str, Any]]:
    """SEG metric rows ``{case, class, dice, ...}`` of one volume.

    Args:
        name: The volume's name (the ``case`` column).
        prediction: Labels ``[S, H, W]`` (indices) or ``[S, K, H, W]`` (channels).
        target: Same layout.
        num_classes: Classes (background included for multiclass).
        class_names: One name per class.
        spacing: Voxel size (slice, row, column) in mm.
        multilabel: Channels instead of indices.

    Returns:
        One row per evaluated class.
    """
    if multilabel:  # SEG's metrics want channels first: [K, S, H, W]
        prediction, target = np.moveaxis(prediction, 1, 0), np.moveaxis(target, 1, 0)
    per_class = segmentation_metrics(prediction, target, num_classes, spacing, multilabel)
    return [{"case": name, "class": class_names[c], **values} for c, values in per_class.items()]


class JointVolumeMetrics:
    """Collect slices of both tasks by file name, then score each volume whole.

    Example:
        >>> acc = JointVolumeMetrics()
        >>> labels = torch.zeros(1, 8, 8, dtype=torch.uint8)
        >>> acc.update(["a.h5"], [0], torch.ones(1, 8, 8), torch.ones(1, 8, 8), None,
        ...            labels, labels, torch.ones(1, 3))
        >>> acc.reconstruction_rows()["a.h5"]["nmse"]
        0.0
    """

    def __init__(self) -> None:
        self.reconstruction = VolumeMetrics()
        self._labels: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        self._spacing: dict[str, tuple[float, ...]] = {}

    def update(self, fnames: Iterable[str], slice_indices: Iterable[int], target: torch.Tensor,
               reconstruction: torch.Tensor, scale: Iterable[float] | torch.Tensor | None,
               predicted_labels: torch.Tensor, target_labels: torch.Tensor,
               spacing: torch.Tensor) -> None:
        """Store a batch.

        Args:
            fnames: File name of each item.
            slice_indices: Slice number of each item.
            target: Magnitudes float ``[B, H, W]`` (normalised units).
            reconstruction: Magnitudes float ``[B, H, W]`` (normalised units).
            scale: What the data were divided by, per item (None: 1).
            predicted_labels: ``[B, H, W]`` or ``[B, K, H, W]`` integer labels.
            target_labels: Same layout.
            spacing: ``[B, 3]`` voxel sizes in mm.
        """
        names, indices = [str(n) for n in fnames], [int(i) for i in slice_indices]
        self.reconstruction.update(names, indices, target, reconstruction, scale)
        for i, (name, idx) in enumerate(zip(names, indices, strict=True)):
            self._labels[name][idx] = (predicted_labels[i].detach().cpu().numpy().astype(np.uint8),
                                       target_labels[i].detach().cpu().numpy().astype(np.uint8))
            self._spacing[name] = tuple(float(s) for s in spacing[i].tolist())

    def reconstruction_rows(self, convention: str | EvaluationConvention | None = None
                            ) -> dict[str, dict[str, float]]:
        """``{fname: {"slices", "ssim", "psnr", "nmse"}}`` under the REC convention."""
        return self.reconstruction.compute(convention)

    def label_volumes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{fname: (prediction, target)}`` uint8 volumes, slices in order."""
        return {name: tuple(np.stack([slices[i][k] for i in sorted(slices)]) for k in (0, 1))
                for name, slices in self._labels.items()}

    def segmentation_rows(self, num_classes: int, class_names: Sequence[str],
                          multilabel: bool = False) -> list[dict[str, Any]]:
        """SEG rows of every volume, sorted by file name (see :func:`segmentation_rows`)."""
        rows: list[dict[str, Any]] = []
        for name, (pred, target) in sorted(self.label_volumes().items()):
            rows += segmentation_rows(name, pred, target, num_classes, class_names,
                                      self._spacing[name], multilabel)
        return rows

    def reset(self) -> None:
        """Forget all stored slices."""
        self.reconstruction.reset()
        self._labels.clear()
        self._spacing.clear()

    def __len__(self) -> int:
        return len(self._labels)
