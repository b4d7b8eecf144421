"""Segmentation metrics per class and per case: Dice, IoU, precision, recall, F1, HD95, ASD.

All functions work on NumPy label maps of one case (a 2D slice or a 3D volume).

Conventions (documented in ``docs/seg.md``):

* Overlap metrics count voxels of the binary masks ``P`` (prediction) and ``T`` (target):
  ``dice = 2|P∩T| / (|P|+|T|)``, ``iou = |P∩T| / |P∪T|``, ``precision = |P∩T| / |P|``,
  ``recall = |P∩T| / |T|``, ``f1 = 2 precision recall / (precision + recall)`` (the true F1
  from precision and recall; for one binary case it equals Dice).
* **Both empty** (class absent from target and prediction): every metric is ``NaN`` and means
  skip it (``numpy.nanmean``): an absent class is neither a success (1) nor a failure (0).
* **Exactly one empty**: overlap metrics are 0 (as scikit-learn's ``zero_division=0``); the
  distance metrics are ``missing_distance``, by default the diagonal of the field of view in
  millimetres, the largest distance possible in the image (a finite worst case, so means
  stay finite but are penalised).
* Surfaces are the mask voxels with at least one 6-connected (4 in 2D) neighbour outside the
  mask (image borders count as outside). Distances are Euclidean between voxel centres in
  millimetres using ``spacing``. ``hd95`` is the 95th percentile and ``asd`` the mean of the
  pooled distances of both directions (prediction surface to target surface and back), i.e.
  the symmetric HD95 (as medpy's ``hd95``) and the average symmetric surface distance of
  Heimann et al. 2009 (IEEE TMI 28:1251; medpy's ``assd`` instead averages the two
  directed means, which differs when the surfaces have different sizes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = [
    "METRIC_NAMES",
    "binary_metrics",
    "class_masks",
    "segmentation_metrics",
    "summarize",
    "surface_distances",
    "surface_voxels",
]

METRIC_NAMES = ("dice", "iou", "precision", "recall", "f1", "hd95", "asd")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """Boolean map of the surface voxels of a binary mask (face-connected border)."""
    mask = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def surface_distances(pred: np.ndarray, target: np.ndarray,
                      spacing: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each surface voxel of one mask to the other mask's surface.

    Args:
        pred: Binary mask ``[*S]``; must have at least one voxel.
        target: Binary mask ``[*S]``; must have at least one voxel.
        spacing: Voxel size per axis in mm (default 1).

    Returns:
        ``(pred_to_target, target_to_pred)``, 1D float64 arrays.
    """
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if not pred.any() or not target.any():
        raise ValueError("surface distances need non-empty masks; hint: check emptiness first")
    scale = np.asarray(spacing if spacing is not None else [1.0] * pred.ndim, dtype=np.float64)
    if scale.shape != (pred.ndim,):
        raise ValueError(f"spacing needs {pred.ndim} values, found {list(scale)}")
    p_pts = np.argwhere(surface_voxels(pred)) * scale
    t_pts = np.argwhere(surface_voxels(target)) * scale
    return cKDTree(t_pts).query(p_pts)[0], cKDTree(p_pts).query(t_pts)[0]


def _fov_diagonal(shape: Sequence[int], spacing: Sequence[float] | None) -> float:
    scale = spacing if spacing is not None else [1.0] * len(shape)
    return float(math.sqrt(sum(((n - 1) * s) ** 2 for n, s in zip(shape, scale, strict=True))))


def binary_metrics(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float] | None = None,
                   missing_distance: float | None = None) -> dict[str, float]:
    """All metrics of one binary prediction against one binary target.

    Args:
        pred: Binary mask ``[*S]`` (bool or 0/1).
        target: Binary mask ``[*S]``.
        spacing: Voxel size per axis in mm (default 1).
        missing_distance: HD95/ASD when exactly one mask is empty (default: the field-of-view
            diagonal in mm).

    Returns:
        ``{name: value}`` for every name in :data:`METRIC_NAMES` (floats, ``NaN`` if both
        masks are empty).
    """
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    n_pred, n_target = int(pred.sum()), int(target.sum())
    if n_pred == 0 and n_target == 0:
        return dict.fromkeys(METRIC_NAMES, math.nan)
    tp = int(np.logical_and(pred, target).sum())
    precision, recall = _ratio(tp, n_pred), _ratio(tp, n_target)
    out = {
        "dice": _ratio(2 * tp, n_pred + n_target),
        "iou": _ratio(tp, n_pred + n_target - tp),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
    }
    if n_pred == 0 or n_target == 0:
        worst = (missing_distance if missing_distance is not None
                 else _fov_diagonal(pred.shape, spacing))
        out["hd95"] = out["asd"] = float(worst)
        return out
    d_pt, d_tp = surface_distances(pred, target, spacing)
    pooled = np.concatenate([d_pt, d_tp])
    out["hd95"] = float(np.percentile(pooled, 95))
    out["asd"] = float(pooled.mean())
    return out


def class_masks(labels: np.ndarray, num_classes: int, multilabel: bool = False,
                include_background: bool = False) -> dict[int, np.ndarray]:
    """Split a label map into one binary mask per evaluated class.

    Args:
        labels: Multiclass label map ``[*S]`` (int) or multilabel ``[C, *S]`` (0/1).
        num_classes: ``C``, background included for multiclass.
        multilabel: Whether ``labels`` has one channel per class.
        include_background: Evaluate class 0 of a multiclass map too.

    Returns:
        ``{class_index: bool mask [*S]}``.
    """
    if multilabel:
        if labels.shape[0] != num_classes:
            raise ValueError(f"multilabel map needs {num_classes} channels first, found shape "
                             f"{labels.shape}")
        return {c: labels[c] > 0 for c in range(num_classes)}
    first = 0 if include_background else 1
    return {c: labels == c for c in range(first, num_classes)}


def segmentation_metrics(pred: np.ndarray, target: np.ndarray, num_classes: int,
                         spacing: Sequence[float] | None = None, multilabel: bool = False,
                         include_background: bool = False,
                         missing_distance: float | None = None) -> dict[int, dict[str, float]]:
    """Per-class metrics of one case.

    Args:
        pred: Predicted label map (see :func:`class_masks` for shapes).
        target: Target label map of the same shape.
        num_classes: Number of classes (background included for multiclass).
        spacing: Voxel size of the spatial axes in mm.
        multilabel: One channel per class instead of one label map.
        include_background: Also evaluate class 0 (multiclass).
        missing_distance: See :func:`binary_metrics`.

    Returns:
        ``{class_index: {metric: value}}``.
    """
    p_masks = class_masks(np.asarray(pred), num_classes, multilabel, include_background)
    t_masks = class_masks(np.asarray(target), num_classes, multilabel, include_background)
    return {c: binary_metrics(p_masks[c], t_masks[c], spacing, missing_distance)
            for c in p_masks}


def summarize(rows: Iterable[dict]) -> dict[str, dict[str, float]]:
    """Mean of each metric per class over cases, skipping ``NaN`` (absent classes).

    Args:
        rows: Dicts with a ``"class"`` key and metric values (as written to the CSV).

    Returns:
        ``{class_name: {metric: mean}}`` plus a ``"mean"`` entry averaging the class means.
    """
    by_class: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        bucket = by_class.setdefault(str(row["class"]), {m: [] for m in METRIC_NAMES})
        for m in METRIC_NAMES:
            bucket[m].append(float(row[m]))

    def nanmean(values: list[float]) -> float:
        finite = [v for v in values if not math.isnan(v)]
        return sum(finite) / len(finite) if finite else math.nan

    summary = {c: {m: nanmean(v) for m, v in vals.items()} for c, vals in by_class.items()}
    if summary:
        summary["mean"] = {m: nanmean([s[m] for s in summary.values()]) for m in METRIC_NAMES}
    return summary
