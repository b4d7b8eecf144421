"""``SegmentationDataset``: 2D slices or 3D volumes of image + label cases.

Each item is a dict:

* ``image``: ``float32 [C_in, H, W]`` (2D) or ``[C_in, S, H, W]`` (3D); ``C_in`` is 1 for
  magnitude and 2 (real, imaginary) for complex data, times ``2k + 1`` for 2D items with
  ``context_slices=k`` (slices ``s-k .. s+k`` in order, each as 1 or 2 channels; slices past
  the ends of the volume repeat the end slice).
* ``target`` (if labels exist): ``int64 [H, W]`` / ``[S, H, W]`` class indices
  (``multiclass``) or ``float32 [C, H, W]`` / ``[C, S, H, W]`` (``multilabel``).
* ``case`` (str), ``format`` (``"nifti"``/``"hdf5"``), ``slice`` (int, -1 for volumes),
  ``num_slices`` (int), ``spacing`` (``float64 [3]``, slice/H/W mm) and ``affine``
  (``float64 [4, 4]``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from atommic_core.errors import DataSkipWarning
from atommic_core.training_data import SharedEpoch, item_rng
from atommic_seg.data.augment import Augmenter
from atommic_seg.data.checks import LabelRule, check_case, check_values
from atommic_seg.data.readers import (
    Case,
    CaseRef,
    SegDataError,
    VolumeCache,
    find_cases,
    read_case,
    read_errors,
)

__all__ = ["NORMALIZATIONS", "SegmentationDataset"]

NORMALIZATIONS = ("max", "zscore", "none")


class SegmentationDataset(Dataset):
    """Image + label pairs as slices or volumes, read once per worker and cached.

    Every case is checked when the dataset is built (see :mod:`atommic_seg.data.checks`):
    a file that cannot be read to its end, a label whose shape does not match the image, a
    dtype or value that does not fit, or a NaN/Inf is a ``SegDataError`` naming the file (or
    a skipped case with ``skip_bad_files``). The same value checks run again when a case is
    read, so a file changed in between is still found, naming case and slice.

    Args:
        data_path: NIfTI root or HDF5 folder/file (see :mod:`atommic_seg.data.readers`).
        dimensionality: 2 (one item per slice) or 3 (one item per volume).
        num_classes: Classes; background included for ``multiclass``.
        label_mode: ``"multiclass"`` (one label map) or ``"multilabel"`` (one channel each).
        complex_data: Keep complex images as 2 channels (else magnitude).
        normalization: ``"max"`` (divide by the volume's max magnitude), ``"zscore"`` or
            ``"none"``.
        data_format: ``"nifti"``, ``"hdf5"`` or ``"auto"``.
        augmentations: Augmentation config (see :mod:`atommic_seg.data.augment`); None = off.
        seed: Seed of the augmentations; item ``i`` in epoch ``e`` uses ``(seed, e, i)``.
        cache_size: Cases kept in memory per worker.
        require_labels: Fail if a case has no labels (off for prediction).
        image_key: HDF5 image dataset (default: first of ``image``, ``reconstruction``...).
        label_key: HDF5 label dataset.
        crop_size: Random crop (zero-padded where the item is smaller), one size per spatial
            axis of an item; seeded like the augmentations. Meant for training (patches let
            3D volumes of different shapes share a batch).
        context_slices: ``k`` neighbouring slices on each side as extra input channels of a
            2D item ("2.5D" input); 0 = the slice alone.
        skip_bad_files: Skip bad cases with a warning instead of raising (an error still if
            none is left).
    """

    def __init__(self, data_path: str | os.PathLike, dimensionality: int = 2,
                 num_classes: int = 2, label_mode: str = "multiclass",
                 complex_data: bool = False, normalization: str = "max",
                 data_format: str = "auto", augmentations: Mapping[str, Any] | None = None,
                 seed: int = 0, cache_size: int = 8, require_labels: bool = True,
                 image_key: str | None = None, label_key: str = "segmentation",
                 crop_size: Sequence[int] | None = None, context_slices: int = 0,
                 skip_bad_files: bool = False) -> None:
        if dimensionality not in (2, 3):
            raise ValueError(f"dimensionality must be 2 or 3, found {dimensionality!r}")
        if label_mode not in ("multiclass", "multilabel"):
            raise ValueError(f"label_mode must be multiclass or multilabel, found {label_mode!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, found "
                             f"{normalization!r}")
        if context_slices < 0 or (context_slices and dimensionality != 2):
            raise ValueError(f"context_slices must be >= 0 and needs 2D items; found "
                             f"{context_slices} with dimensionality {dimensionality}")
        self.dimensionality = dimensionality
        self.context_slices = int(context_slices)
        self.num_classes = int(num_classes)
        self.label_mode = label_mode
        self.complex_data = complex_data
        self.normalization = normalization
        self.augmenter = Augmenter(augmentations, complex_data) if augmentations else None
        self.seed = int(seed)
        # DataLoader workers (persistent ones included) hold copies of this dataset; the
        # epoch set in the main process must reach them
        self._epoch = SharedEpoch()
        self.require_labels = require_labels
        self.image_key, self.label_key = image_key, label_key
        self.crop_size = tuple(int(c) for c in crop_size) if crop_size else None
        if self.crop_size is not None and len(self.crop_size) != dimensionality:
            raise ValueError(f"crop_size needs {dimensionality} sizes for {dimensionality}D "
                             f"items, found {list(self.crop_size)}")
        self.rule = LabelRule(label_mode, self.num_classes, require_labels)
        self.refs, self.num_slices = self._check_all(find_cases(data_path, data_format),
                                                     skip_bad_files)
        self.cache = VolumeCache(cache_size)
        if dimensionality == 2:
            self.index = [(c, s) for c, n in enumerate(self.num_slices) for s in range(n)]
        else:
            self.index = [(c, -1) for c in range(len(self.refs))]

    def _check_all(self, refs: list[CaseRef], skip: bool) -> tuple[list[CaseRef], list[int]]:
        """The usable cases and their slice counts; a bad case raises or is skipped."""
        kept, counts = [], []
        for ref in refs:
            try:
                counts.append(check_case(ref, self.rule, self.image_key, self.label_key))
            except SegDataError as exc:
                if not skip:
                    raise
                reason = str(exc).split("; hint:")[0]  # the hint is to skip, done here
                warnings.warn(f"skip_bad_files: skipping {reason}", DataSkipWarning, stacklevel=3)
                continue
            kept.append(ref)
        if not kept:
            raise SegDataError(f"{Path(refs[0].image_path).parent}: expected at least one valid "
                               f"case; found {len(refs)}, none usable (skip_bad_files skipped "
                               "them all; see the warnings)")
        return kept, counts

    @property
    def epoch(self) -> int:
        """The epoch used in the augmentation seeds (shared with the loader's workers)."""
        return self._epoch.get()

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch used in the augmentation seeds, in this process and its workers.

        Workers read the value when they make an item, so it must be set before the loader's
        iterator for that epoch is created (items are prefetched from then on).
        """
        self._epoch.set(epoch)

    @property
    def example_groups(self) -> list[str]:
        """The case of each item: under DDP a case is evaluated whole on one rank."""
        return [self.refs[case_idx].name for case_idx, _ in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def _load(self, ref: CaseRef) -> Case:
        try:
            case = read_case(ref, self.image_key, self.label_key)
        except SegDataError:
            raise
        except read_errors() as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise SegDataError(f"{ref.image_path}: failed to read the case: {message}") from exc
        if self.require_labels and case.label is None:
            raise SegDataError(f"{ref.image_path}: no labels ({self.label_key!r}) found")
        check_values(case, self.rule)  # NaN/Inf named with its slice, before normalizing
        case.image = self._normalize(case.image)
        return case

    def _normalize(self, image: np.ndarray) -> np.ndarray:
        if not self.complex_data and np.iscomplexobj(image):
            image = np.abs(image)
        if self.normalization == "max":
            scale = float(np.abs(image).max())
            return image / scale if scale > 0 else image
        if self.normalization == "zscore":  # float64 statistics: no float32 overflow
            mag = np.abs(image)
            mean, std = float(mag.mean(dtype=np.float64)), float(mag.std(dtype=np.float64))
            return (image - mean) / std if std > 0 else image - mean
        return image

    def _channels(self, image: np.ndarray) -> np.ndarray:
        """``[K, *S]`` (2D: K slices; 3D: the volume, K = 1 added) -> ``[C_in, *S]`` float32."""
        if self.dimensionality == 3:
            image = image[None]
        if self.complex_data:  # real and imaginary part of each slice, next to each other
            image = np.stack([image.real, image.imag], axis=1)
        return image.reshape(-1, *image.shape[-self.dimensionality:]).astype(np.float32)

    def _slices(self, image: np.ndarray, index: int) -> np.ndarray:
        """Slice ``index`` and its ``context_slices`` neighbours each side: ``[2k+1, H, W]``."""
        k = self.context_slices
        return image[np.clip(np.arange(index - k, index + k + 1), 0, image.shape[0] - 1)]

    def _target(self, label: np.ndarray) -> torch.Tensor:
        if self.label_mode == "multilabel":
            if label.ndim != (4 if self.dimensionality == 3 else 3):
                raise ValueError(f"multilabel labels need a channel axis; found shape "
                                 f"{label.shape}")
            if self.dimensionality == 3:
                label = np.moveaxis(label, 1, 0)  # [S, C, H, W] -> [C, S, H, W]
            return torch.from_numpy(np.ascontiguousarray(label > 0, dtype=np.float32))
        return torch.from_numpy(np.ascontiguousarray(label, dtype=np.int64))

    def __getitem__(self, i: int) -> dict[str, Any]:
        """Return item ``i`` (see the module docstring)."""
        case_idx, slice_idx = self.index[i]
        case = self.cache.get(self.refs[case_idx], self._load)
        if slice_idx >= 0:
            image, label = self._slices(case.image, slice_idx), (
                case.label[slice_idx] if case.label is not None else None)
        else:
            image, label = case.image, case.label
        image = self._channels(image)
        if self.augmenter is not None:
            rng = item_rng(self.seed, self.epoch, i)
            multilabel = self.label_mode == "multilabel"
            if multilabel and label is not None and self.dimensionality == 3:
                label = np.moveaxis(label, 1, 0)
                image, label = self.augmenter(image, label, rng, True)
                label = np.moveaxis(label, 0, 1)
            else:
                image, label = self.augmenter(image, label, rng, multilabel)
        item: dict[str, Any] = {
            "image": torch.from_numpy(np.ascontiguousarray(image)),
            "case": case.ref.name,
            "format": case.ref.fmt,
            "slice": slice_idx,
            "num_slices": self.num_slices[case_idx],
            "spacing": torch.tensor(case.spacing, dtype=torch.float64),
            "affine": torch.from_numpy(np.asarray(case.affine, dtype=np.float64)),
        }
        if label is not None:
            item["target"] = self._target(label)
        if self.crop_size is not None:
            self._random_crop(item, item_rng(self.seed, self.epoch, i, 1))
        if not bool(torch.isfinite(item["image"]).all()):  # cheap; finite data can overflow
            where = f"slice {slice_idx}" if slice_idx >= 0 else "volume"
            raise SegDataError(f"{case.ref.image_path}: {where}: the image holds NaN/Inf "
                               f"after normalization ({self.normalization}); hint: rescale "
                               "the data (values too large for float32?)")
        return item

    def _random_crop(self, item: dict[str, Any], rng: np.random.Generator) -> None:
        """Crop ``image`` and ``target`` in place to ``crop_size`` at a random position."""
        spatial = item["image"].shape[1:]
        pads = [max(0, c - n) for c, n in zip(self.crop_size, spatial, strict=True)]
        keys = [k for k in ("image", "target") if k in item]
        if any(pads):
            flat = [p for pad in reversed(pads) for p in (0, pad)]
            for k in keys:
                item[k] = F.pad(item[k], flat)
        sizes = item["image"].shape[1:]
        starts = [int(rng.integers(0, n - c + 1))
                  for n, c in zip(sizes, self.crop_size, strict=True)]
        window = tuple(slice(s, s + c) for s, c in zip(starts, self.crop_size, strict=True))
        for k in keys:
            item[k] = item[k][(Ellipsis, *window)].contiguous()
