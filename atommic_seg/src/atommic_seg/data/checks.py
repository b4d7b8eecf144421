"""Check a segmentation case before training sees it: readable, consistent, finite.

:func:`check_case` runs once per case when a :class:`~atommic_seg.data.SegmentationDataset`
is built. It reads the shapes and dtypes from the headers, then streams every value of the
image and label (HDF5: the slices of one chunk at a time; NIfTI: the gzip stream 1 MiB at a
time, which also finds a truncated or corrupted file), so a bad case fails before a run
starts, never in the middle of an epoch. :func:`check_values` applies the same value rules to
a case in memory when it is read. Every problem is a
:class:`~atommic_seg.data.readers.SegDataError` whose one-line message names the file and what
was expected.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atommic_seg.data.readers import (
    IMAGE_KEYS,
    Case,
    CaseRef,
    SegDataError,
    read_errors,
)

__all__ = ["LabelRule", "check_case", "check_values"]

_CHUNK = 1 << 20
_IMAGE_KINDS = "biufc"
_LABEL_KINDS = "biuf"
_SKIP_HINT = "hint: fix or remove the case, or set skip_bad_files: true to skip it"


@dataclass(frozen=True)
class LabelRule:
    """What a case's labels must look like.

    Attributes:
        label_mode: ``"multiclass"`` (``[S, H, W]`` class indices ``0 .. num_classes - 1``) or
            ``"multilabel"`` (``[S, num_classes, H, W]``, nonzero = in the class).
        num_classes: Number of classes (background included for multiclass).
        required: A case without labels is an error.
    """

    label_mode: str = "multiclass"
    num_classes: int = 2
    required: bool = True


@dataclass
class _Tally:
    """Non-finite count (and first bad slice), range and integrality of streamed values."""

    non_finite: int = 0
    first_bad_slice: int = -1
    low: float = math.inf
    high: float = -math.inf
    fractional: bool = False

    def add(self, values: np.ndarray, slice_at: Callable[[int], int], labels: bool) -> None:
        if not labels and values.dtype.kind in "fc":
            # images become float32/complex64: a finite float64 beyond that range is Inf
            with np.errstate(over="ignore"):
                values = values.astype(np.complex64 if values.dtype.kind == "c" else
                                       np.float32, copy=False)
        if values.dtype.kind in "fc":
            bad = ~np.isfinite(values)
            count = int(bad.sum())
            if count:
                if not self.non_finite:
                    self.first_bad_slice = slice_at(int(np.argmax(bad)))
                self.non_finite += count
                values = values[~bad]
        if labels and values.size:
            self.low = min(self.low, float(values.min()))
            self.high = max(self.high, float(values.max()))
            if values.dtype.kind == "f" and not self.fractional:
                self.fractional = bool((values != np.round(values)).any())


def _check_tally(path: str, what: str, tally: _Tally, rule: LabelRule | None) -> None:
    if tally.non_finite:
        raise SegDataError(f"{path}: {what} slice {tally.first_bad_slice} holds NaN/Inf "
                           f"({tally.non_finite} value(s) in the case); {_SKIP_HINT}")
    if rule is None or rule.label_mode != "multiclass" or tally.low > tally.high:
        return
    if tally.fractional:
        raise SegDataError(f"{path}: expected whole-number class indices in the labels; found "
                           f"fractional values; {_SKIP_HINT}")
    if tally.low < 0 or tally.high >= rule.num_classes:
        raise SegDataError(f"{path}: expected label values 0..{rule.num_classes - 1}; found "
                           f"{tally.low:g}..{tally.high:g}; hint: set model.num_classes")


def check_values(case: Case, rule: LabelRule) -> None:
    """Raise :class:`SegDataError` if a case in memory holds NaN/Inf or labels out of range.

    Args:
        case: A case from :func:`~atommic_seg.data.readers.read_case` (slices first).
        rule: What the labels must look like.
    """
    for what, array, labels in (("image", case.image, False), ("label", case.label, True)):
        if array is None:
            continue
        tally = _Tally()
        for s in range(array.shape[0]):
            tally.add(np.asarray(array[s]).ravel(), lambda _k, s=s: s, labels)
        path = case.ref.label_path if labels and case.ref.label_path else case.ref.image_path
        _check_tally(str(path), what, tally, rule if labels else None)


def _nifti_order(shape: tuple) -> list[int]:
    """Slices-first ``[Z, X, Y]`` / ``[Z, C, X, Y]`` back to the file's ``[X, Y, Z(, C)]``."""
    if len(shape) == 3:
        return [shape[1], shape[2], shape[0]]
    if len(shape) == 4:
        return [shape[2], shape[3], shape[0], shape[1]]
    return list(shape)


def _slices_first(shape: tuple) -> tuple:
    """A NIfTI shape ``[X, Y, Z(, C)]`` in the readers' slices-first order."""
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    if len(shape) == 4:
        return (shape[2], shape[3], shape[0], shape[1])
    return tuple(shape)


def _expect_shapes(ref: CaseRef, image_shape: tuple, image_kind: str,
                   label_shape: tuple | None, label_kind: str | None, rule: LabelRule) -> None:
    """Shapes slices first: image ``[S, H, W]``, label ``[S, H, W]`` or ``[S, C, H, W]``.

    Messages show shapes as the file stores them (NIfTI: ``[X, Y, Z(, C)]``).
    """
    nifti = ref.fmt == "nifti"
    show = _nifti_order if nifti else list
    layout = "[X, Y, Z]" if nifti else "[slices, H, W]"
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise SegDataError(f"{ref.image_path}: expected a 3D image {layout} with every size "
                           f">= 1; found shape {show(image_shape)}")
    if image_kind not in _IMAGE_KINDS:
        raise SegDataError(f"{ref.image_path}: expected a numeric image; found dtype kind "
                           f"{image_kind!r}")
    if label_shape is None:  # the callers have raised already if labels are required
        return
    s, h, w = image_shape
    want = (s, h, w) if rule.label_mode == "multiclass" else (s, rule.num_classes, h, w)
    if tuple(label_shape) != want:
        like = "like the image" if rule.label_mode == "multiclass" else \
            f"(multilabel: the image's {show(image_shape)} and {rule.num_classes} classes)"
        raise SegDataError(f"{ref.label_path}: expected labels of shape {show(want)} {like}; "
                           f"found {show(tuple(label_shape))}")
    if label_kind not in _LABEL_KINDS:
        raise SegDataError(f"{ref.label_path}: expected integer (or bool/float) labels; found "
                           f"dtype kind {label_kind!r}")


def _expect_spacing(path: str, spacing: object) -> None:
    try:
        values = [float(v) for v in np.asarray(spacing, dtype=np.float64).ravel()]
    except (TypeError, ValueError):
        values = []
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise SegDataError(f"{path}: expected a spacing of 3 positive voxel sizes (mm); found "
                           f"{spacing!r}")


def check_case(ref: CaseRef, rule: LabelRule, image_key: str | None = None,
               label_key: str = "segmentation") -> int:
    """Check one case on disk; return its number of slices.

    Args:
        ref: The case.
        rule: What the labels must look like.
        image_key: HDF5 image dataset (default: the first of ``IMAGE_KEYS`` present).
        label_key: HDF5 label dataset.

    Returns:
        The number of slices ``S``.

    Raises:
        SegDataError: The case is unreadable, truncated, inconsistent or not finite.
    """
    check = _check_h5 if ref.fmt == "hdf5" else _check_nifti
    return check(ref, rule, image_key, label_key)


@contextmanager
def _reading(path: str | None, fmt: str) -> Iterator[None]:
    """Turn what the readers raise while reading ``path`` into a SegDataError naming it."""
    try:
        yield
    except SegDataError:
        raise
    except read_errors() as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise SegDataError(f"{path}: cannot be read as {fmt} (truncated or corrupt?): "
                           f"{message}") from exc


def _check_h5(ref: CaseRef, rule: LabelRule, image_key: str | None, label_key: str) -> int:
    import h5py

    path = ref.image_path
    with _reading(path, "HDF5"), h5py.File(path, "r") as f:
        keys = (image_key,) if image_key else IMAGE_KEYS
        key = next((k for k in keys if k in f), None)
        if key is None or not isinstance(f[key], h5py.Dataset):
            raise SegDataError(f"{path}: expected an image dataset, one of {list(keys)}; found "
                               f"keys {sorted(f.keys())}")
        image = f[key]
        label = f[label_key] if label_key in f else None
        if label is None and rule.required:
            raise SegDataError(f"{path}: expected a label dataset {label_key!r}; found keys "
                               f"{sorted(f.keys())}; hint: set label_key")
        if label is not None and not isinstance(label, h5py.Dataset):
            raise SegDataError(f"{path}: expected {label_key!r} to be a dataset; found a group")
        _expect_shapes(ref, image.shape, image.dtype.kind, None if label is None else
                       label.shape, None if label is None else label.dtype.kind, rule)
        _expect_spacing(path, f.attrs.get("spacing", (1.0, 1.0, 1.0)))
        for what, dataset in (("image", image), ("label", label)):
            if dataset is None:
                continue
            tally = _Tally()
            step = dataset.chunks[0] if dataset.chunks else 1  # each chunk decompressed once
            for start in range(0, dataset.shape[0], step):
                for s, values in enumerate(np.asarray(dataset[start:start + step]), start):
                    tally.add(values.ravel(), lambda _k, s=s: s, what == "label")
            _check_tally(path, what, tally, rule if what == "label" else None)
        return int(image.shape[0])


def _nifti_values(path: str, proxy) -> Iterator[tuple[np.ndarray, Callable[[int], int]]]:
    """Stream the data of a NIfTI file: ``(values, slice_at)`` chunks of about 1 MiB.

    ``slice_at(k)`` is the slice (last spatial axis, ``Z``) of value ``k`` of the chunk. The
    whole file is read, so a truncated or corrupt gzip stream raises (``EOFError``,
    ``BadGzipFile``) even past the data.
    """
    dtype = np.dtype(proxy.dtype)
    shape = tuple(int(n) for n in proxy.shape)
    plane, depth = shape[0] * shape[1], shape[2]
    expected = int(np.prod(shape)) * dtype.itemsize
    slope, inter = float(proxy.slope), float(proxy.inter)
    scaled = (slope, inter) != (1.0, 0.0)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        if len(f.read(int(proxy.offset))) < int(proxy.offset):
            raise SegDataError(f"{path}: truncated: the file ends before its data")
        done, pending = 0, b""
        while done < expected:
            chunk = f.read(min(_CHUNK, expected - done))
            if not chunk:
                raise SegDataError(f"{path}: truncated: expected {expected} bytes of data, "
                                   f"found {done}")
            done += len(chunk)
            data = pending + chunk
            whole = len(data) // dtype.itemsize * dtype.itemsize
            pending = data[whole:]
            values = np.frombuffer(data[:whole], dtype=dtype)
            start = (done - len(data)) // dtype.itemsize
            if scaled and values.dtype.kind != "c":
                values = values * slope + inter
            yield values, lambda k, start=start: (start + k) // plane % depth
        while f.read(_CHUNK):  # the rest of the stream: gzip checks its length and CRC
            pass


def _check_nifti(ref: CaseRef, rule: LabelRule, image_key: str | None, label_key: str) -> int:
    import nibabel as nib

    if ref.label_path is None and rule.required:
        expected = Path(ref.image_path).parent.parent / "labels" / Path(ref.image_path).name
        raise SegDataError(f"{ref.image_path}: expected a label file {expected}; found none")
    with _reading(ref.image_path, "NIfTI"):
        image = nib.load(ref.image_path)
    with _reading(ref.label_path, "NIfTI"):
        label = nib.load(ref.label_path) if ref.label_path is not None else None
    shape = tuple(image.shape)
    _expect_shapes(ref, _slices_first(shape), np.dtype(image.get_data_dtype()).kind,
                   None if label is None else _slices_first(tuple(label.shape)),
                   None if label is None else np.dtype(label.get_data_dtype()).kind, rule)
    zooms = image.header.get_zooms()[:3]
    _expect_spacing(ref.image_path, zooms)
    for what, img, path in (("image", image, ref.image_path), ("label", label, ref.label_path)):
        if img is None:
            continue
        tally = _Tally()
        with _reading(path, "NIfTI"):
            for values, slice_at in _nifti_values(str(path), img.dataobj):
                tally.add(values, slice_at, what == "label")
        _check_tally(str(path), what, tally, rule if what == "label" else None)
    return int(shape[2])
