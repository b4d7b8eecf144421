"""Find and read image + label cases from NIfTI folders or HDF5 files.

Every reader returns arrays in one internal layout, slices first:

* image ``[S, H, W]`` (``float32`` magnitude or ``complex64``),
* label ``[S, H, W]`` (int, multiclass) or ``[S, C, H, W]`` (0/1, multilabel),
* spacing ``(slice, H, W)`` in mm and the 4x4 affine of the source file.

NIfTI layout: ``<root>/images/<case>.nii.gz`` with ``<root>/labels/<case>.nii.gz`` (same
name); a volume ``[X, Y, Z]`` is sliced along its last axis (``Z``), a multilabel label map is
``[X, Y, Z, C]``. HDF5 layout: ``<root>/*.h5`` each holding ``image`` (or ``reconstruction``)
``[S, H, W]`` and ``segmentation`` ``[S, H, W]`` or ``[S, C, H, W]``, optional attribute
``spacing`` (3 values).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from atommic_core.errors import AtommicError

__all__ = [
    "IMAGE_KEYS",
    "Case",
    "CaseRef",
    "SegDataError",
    "VolumeCache",
    "find_cases",
    "from_nifti_layout",
    "read_case",
    "read_errors",
    "to_nifti_layout",
]

IMAGE_KEYS = ("image", "reconstruction", "reconstruction_rss")
_NIFTI_SUFFIXES = (".nii.gz", ".nii")
_H5_SUFFIXES = (".h5", ".hdf5")
_LAYOUT = {"nifti": "images/<case>.nii.gz with labels/<case>.nii.gz",
           "hdf5": "*.h5 files"}


class SegDataError(AtommicError, ValueError):
    """A segmentation case is unreadable, truncated, inconsistent or holds NaN/Inf.

    The one-line message names the file and what was expected.
    """


def read_errors() -> tuple[type[BaseException], ...]:
    """What h5py, nibabel and gzip raise for an unreadable, truncated or corrupt file.

    Used as ``except read_errors():`` (evaluated only when something was raised), so
    nibabel is imported only then.
    """
    import zlib

    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError, HeaderTypeError, ImageDataError
    from nibabel.wrapstruct import WrapStructError

    return (OSError, EOFError, zlib.error, KeyError, ValueError, TypeError, RuntimeError,
            IndexError, OverflowError, MemoryError, ImageFileError, HeaderDataError,
            HeaderTypeError, ImageDataError, WrapStructError)


@dataclass(frozen=True)
class CaseRef:
    """Where one case lives on disk.

    Attributes:
        name: Case name (file name without suffix).
        image_path: Image file.
        label_path: Label file (NIfTI only; for HDF5 the image file), or None.
        fmt: ``"nifti"`` or ``"hdf5"``.
    """

    name: str
    image_path: str
    label_path: str | None
    fmt: str


@dataclass
class Case:
    """One case in memory, slices first (see the module docstring for shapes)."""

    ref: CaseRef
    image: np.ndarray
    label: np.ndarray | None
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))


def _strip(name: str) -> str:
    for suffix in (*_NIFTI_SUFFIXES, *_H5_SUFFIXES):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def find_cases(root: str | os.PathLike, fmt: str = "auto") -> list[CaseRef]:
    """List the cases under ``root`` (sorted by name).

    Args:
        root: A NIfTI root (with ``images/`` and ``labels/``), a folder of HDF5 files, or one
            HDF5 file.
        fmt: ``"nifti"``, ``"hdf5"`` or ``"auto"`` (detected from the folder contents).

    Returns:
        The case references (a NIfTI case without a label file has ``label_path`` None).
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"data path {root} does not exist; hint: run "
                                "python -m atommic_seg make-demo-data OUT for demo data")
    if fmt == "auto":
        fmt = "nifti" if (root / "images").is_dir() else "hdf5"
    if fmt == "hdf5":
        files = [root] if root.is_file() else sorted(
            p for p in root.iterdir() if p.name.endswith(_H5_SUFFIXES))
        refs = [CaseRef(_strip(p.name), str(p), str(p), "hdf5") for p in files]
    elif fmt == "nifti":
        images = sorted(p for p in (root / "images").iterdir()
                        if p.name.endswith(_NIFTI_SUFFIXES))
        # a missing label file is the case's problem (checked, or skipped, when the dataset
        # is built), not the folder's
        refs = [CaseRef(_strip(p.name), str(p), str(label) if label.is_file() else None,
                        "nifti") for p in images for label in [root / "labels" / p.name]]
    else:
        raise SegDataError(f"data_format: expected nifti, hdf5 or auto; found {fmt!r}")
    if not refs:
        raise SegDataError(f"{root}: expected {fmt} cases ({_LAYOUT[fmt]}); found none")
    return refs


def from_nifti_layout(array: np.ndarray) -> np.ndarray:
    """``[X, Y, Z]`` -> ``[Z, X, Y]`` and ``[X, Y, Z, C]`` -> ``[Z, C, X, Y]``."""
    if array.ndim == 3:
        return np.moveaxis(array, 2, 0)
    if array.ndim == 4:
        return np.transpose(array, (2, 3, 0, 1))
    raise ValueError(f"expected a 3D or 4D NIfTI array, found shape {array.shape}")


def to_nifti_layout(array: np.ndarray) -> np.ndarray:
    """Inverse of :func:`from_nifti_layout`."""
    if array.ndim == 3:
        return np.moveaxis(array, 0, 2)
    if array.ndim == 4:
        return np.transpose(array, (2, 3, 0, 1))
    raise ValueError(f"expected a 3D or 4D array, found shape {array.shape}")


def _h5_image_key(h5, image_key: str | None) -> str:
    keys = (image_key,) if image_key else IMAGE_KEYS
    for key in keys:
        if key in h5:
            return key
    raise KeyError(f"{h5.filename}: none of {list(keys)} found; keys are {list(h5.keys())}")


def read_case(ref: CaseRef, image_key: str | None = None, label_key: str = "segmentation",
              load_label: bool = True) -> Case:
    """Read a whole case into memory (see the module docstring for the layout)."""
    if ref.fmt == "nifti":
        import nibabel as nib

        img = nib.load(ref.image_path)
        image = from_nifti_layout(np.asarray(img.dataobj))
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        label = None
        if load_label and ref.label_path is not None:
            label = from_nifti_layout(np.asarray(nib.load(ref.label_path).dataobj))
        spacing = (zooms[2], zooms[0], zooms[1])
        affine = np.asarray(img.affine, dtype=np.float64)
    else:
        import h5py

        with h5py.File(ref.image_path, "r") as f:
            image = f[_h5_image_key(f, image_key)][()]
            label = f[label_key][()] if load_label and label_key in f else None
            spacing = tuple(float(s) for s in f.attrs.get("spacing", (1.0, 1.0, 1.0)))
        affine = np.diag([spacing[1], spacing[2], spacing[0], 1.0])
    if image.ndim != 3:
        raise SegDataError(f"{ref.image_path}: expected a 3D image [slices, H, W], found "
                           f"shape {list(image.shape)}")
    image = image.astype(np.complex64 if np.iscomplexobj(image) else np.float32)
    if label is not None and label.shape[0] != image.shape[0]:
        raise SegDataError(f"{ref.label_path}: label has {label.shape[0]} slices, image has "
                           f"{image.shape[0]}")
    return Case(ref, image, label, spacing, affine)  # type: ignore[arg-type]


class VolumeCache:
    """Least-recently-used cache of read cases, one per worker process.

    Each DataLoader worker holds its own copy of the dataset and therefore of this cache, so
    a volume is read once per worker instead of once per slice.

    Args:
        capacity: Number of cases kept in memory (at least 1).

    Attributes:
        reads: How many times a case was read from disk (for tests and profiling).
    """

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = max(1, int(capacity))
        self._items: OrderedDict[str, Case] = OrderedDict()
        self.reads = 0

    def get(self, ref: CaseRef, loader) -> Case:
        """Return the cached case for ``ref`` or ``loader(ref)`` (then cached)."""
        key = ref.image_path
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        case = loader(ref)
        self.reads += 1
        self._items[key] = case
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return case
