"""Segmentation labels stored next to k-space: layout checks and per-slice reading.

Layouts of the ``segmentation`` dataset (SKM-TEA style; ATOMMIC's multitask loader reads the
same): ``[slices, H, W]`` integer class indices (0 = background) or ``[slices, classes, H, W]``
0/1 channels (multilabel, one channel per class). ``H, W`` is the k-space grid or the grid
of the stored target (fastMRI-style files whose targets are cropped; the data then need
``crop_size`` equal to that grid). An optional file attribute ``spacing`` (3 positive
numbers, slice/row/column in mm) gives the voxel size used by the surface-distance metrics;
without it voxels count as 1 mm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from atommic_rec.data import DataFileError

__all__ = ["LABEL_MODES", "LabelInfo", "LabelReader", "inspect_labels"]

LABEL_MODES = ("multiclass", "multilabel")


@dataclass(frozen=True)
class LabelInfo:
    """What :func:`inspect_labels` learned about one file's labels.

    Attributes:
        path: The HDF5 file.
        layout: ``"indices"`` (``[slices, H, W]``) or ``"channels"`` (``[slices, K, H, W]``);
            None when the file has no labels (allowed for prediction).
        spacing: Voxel size ``(slice, row, column)`` in mm.
    """

    path: Path
    layout: str | None
    spacing: tuple[float, float, float]


def _spacing(path: Path, attrs: Any) -> tuple[float, float, float]:
    if "spacing" not in attrs:
        return (1.0, 1.0, 1.0)
    value = np.asarray(attrs["spacing"], dtype=np.float64).reshape(-1)
    if value.shape != (3,) or not np.all(np.isfinite(value)) or np.any(value <= 0):
        raise DataFileError(f"{path}: attribute spacing: expected 3 positive numbers (slice, "
                            f"row, column in mm); found {value.tolist()}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _check_values(path: Path, labels: h5py.Dataset, layout: str, num_classes: int) -> None:
    """Every slice: finite, integral, in range (indices) or 0/1 (channels)."""
    for s in range(labels.shape[0]):
        values = np.asarray(labels[s])
        if values.dtype.kind == "f":
            bad = int((~np.isfinite(values)).sum())
            if bad:
                raise DataFileError(f"{path}: slice {s}: segmentation holds {bad} NaN/Inf "
                                    "value(s); hint: fix or remove the file, or set "
                                    "skip_bad_files: true")
            if np.any(values != np.round(values)):
                raise DataFileError(f"{path}: slice {s}: expected integer labels in "
                                    f"'segmentation'; found fractional values")
        high = num_classes - 1 if layout == "indices" else 1
        if values.size and (values.min() < 0 or values.max() > high):
            what = (f"class indices in [0, {high}] (num_classes={num_classes})"
                    if layout == "indices" else "0/1 values per class channel")
            hint = "set model.num_classes" if layout == "indices" else "binarise the labels"
            raise DataFileError(f"{path}: slice {s}: expected {what} in 'segmentation'; "
                                f"found values in [{values.min()}, {values.max()}]; "
                                f"hint: {hint}")


def inspect_labels(path: Path, *, label_mode: str, num_classes: int, required: bool = True,
                   key: str = "segmentation") -> LabelInfo:
    """Check the labels of one file against its k-space (and target) and the model.

    Args:
        path: An HDF5 file with ``kspace`` ``[slices, (coils,) H, W]``.
        label_mode: ``"multiclass"`` (the model predicts one class per pixel) or
            ``"multilabel"`` (one independent channel per class). Class indices serve both
            (one-hot for multilabel); channels need ``multilabel``.
        num_classes: Classes of the model (background included for multiclass).
        required: Whether a file without labels is an error (False for prediction).
        key: The label dataset's name.

    Returns:
        The :class:`LabelInfo`.

    Raises:
        DataFileError: Naming the file (and slice) and what was expected.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode: expected one of {LABEL_MODES}; found {label_mode!r}")
    try:
        with h5py.File(path, "r") as f:
            spacing = _spacing(path, f.attrs)
            if key not in f:
                if required:
                    raise DataFileError(
                        f"{path}: expected a {key!r} dataset ([slices, H, W] class indices or "
                        f"[slices, classes, H, W] 0/1); found keys {sorted(f.keys())}")
                return LabelInfo(path, None, spacing)
            if "kspace" not in f or f["kspace"].ndim not in (3, 4):
                return LabelInfo(path, None, spacing)  # the REC dataset names this problem
            labels, kspace = f[key], f["kspace"]
            grids = {tuple(kspace.shape[-2:])}
            grids |= {tuple(f[t].shape[-2:]) for t in ("reconstruction_sense",
                                                       "reconstruction_rss", "target") if t in f}
            layout = _layout(path, labels, kspace.shape[0], grids, label_mode, num_classes, key)
            _check_values(path, labels, layout, num_classes)
            return LabelInfo(path, layout, spacing)
    except DataFileError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DataFileError(f"{path}: cannot be read as HDF5 (missing, truncated or corrupt): "
                            f"{exc}") from exc


def _layout(path: Path, labels: h5py.Dataset, slices: int, grids: set[tuple[int, ...]],
            label_mode: str, num_classes: int, key: str) -> str:
    shape = tuple(labels.shape)
    if labels.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: expected {key!r} of integer or float type; found "
                            f"{labels.dtype}")
    if len(shape) not in (3, 4) or shape[0] != slices or shape[-2:] not in grids:
        expected = " or ".join(f"[{slices}, H={h}, W={w}]" for h, w in sorted(grids))
        raise DataFileError(f"{path}: expected {key!r} of shape {expected} (class indices) or "
                            f"[{slices}, classes, H, W] (0/1 channels) on the image grid; found "
                            f"{list(shape)}")
    if len(shape) == 3:
        return "indices"
    if label_mode != "multilabel":
        raise DataFileError(f"{path}: {key!r} holds {shape[1]} class channels [slices, classes, "
                            f"H, W]; expected class indices [slices, H, W] for label_mode "
                            f"multiclass; hint: set model.label_mode=multilabel")
    if shape[1] != num_classes:
        raise DataFileError(f"{path}: {key!r} holds {shape[1]} class channels; expected "
                            f"num_classes={num_classes}; hint: set model.num_classes={shape[1]}")
    return "channels"


class LabelReader:
    """Reads label slices; HDF5 handles are opened lazily, once per process.

    Args:
        key: The label dataset's name.
    """

    def __init__(self, key: str = "segmentation") -> None:
        self.key = key
        self._handles: dict[Path, h5py.File] = {}
        self._pid = os.getpid()

    def read(self, info: LabelInfo, slice_idx: int, label_mode: str,
             num_classes: int) -> torch.Tensor:
        """One slice: int64 ``[H, W]`` (multiclass) or float32 ``[K, H, W]`` (multilabel).

        Args:
            info: The file's :class:`LabelInfo` (with a layout).
            slice_idx: Slice number.
            label_mode: ``"multiclass"`` or ``"multilabel"`` (indices become one-hot).
            num_classes: Classes of the model.
        """
        if os.getpid() != self._pid:  # forked worker: never share the parent's handles
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(info.path)
        if handle is None:
            handle = self._handles[info.path] = h5py.File(info.path, "r")
        labels = torch.from_numpy(np.asarray(handle[self.key][slice_idx]))
        if info.layout == "channels":
            return (labels > 0).to(torch.float32)
        labels = labels.round().to(torch.int64) if labels.is_floating_point() else \
            labels.to(torch.int64)
        if label_mode == "multilabel":
            return torch.nn.functional.one_hot(labels, num_classes).movedim(-1, 0).float()
        return labels

    def close(self) -> None:
        """Close this process's handles."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = {}  # h5py handles do not pickle; workers reopen lazily
        return state
