"""Slice-level dataset over fastMRI-layout HDF5 files.

File layout (fastMRI): ``kspace`` ``[slices, coils, H, W]`` complex (or single-coil
``[slices, H, W]``); optional ``sensitivity_map`` (same shape), ``mask`` (``[W]``, ``[H, W]``,
``[slices, W]`` or ``[slices, H, W]``; a ``[slices, W]`` mask with ``slices == H`` is read as
``[H, W]`` points unless its attribute ``layout`` says ``slice_lines``), a target
(``reconstruction_sense``, ``reconstruction_rss`` or ``target``, ``[slices, H', W']``); attrs
``max``, ``norm``, ``acquisition``, ``patient_id``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from atommic_core.errors import AtommicError, DataSkipWarning

__all__ = ["DataFileError", "SliceDataset", "VolumeInfo", "list_files"]

DEFAULT_TARGET_KEYS = ("reconstruction_sense", "reconstruction_rss", "target")


class DataFileError(AtommicError, ValueError):
    """An HDF5 file is missing, corrupt or does not follow the expected layout."""


@dataclass(frozen=True)
class VolumeInfo:
    """What :class:`SliceDataset` learned about one file when it was checked."""

    path: Path
    num_slices: int
    multicoil: bool
    target_key: str | None
    has_maps: bool
    mask_layout: str | None  # "lines", "points", "slice_lines", "slice_points" or None
    max_value: float  # NaN when unknown until read
    attrs: dict[str, Any]


def list_files(root: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """HDF5 files of a folder (sorted ``*.h5``), a list file (one path a line) or a list.

    Args:
        root: Folder, text file (paths relative to its folder; ``#`` starts a comment) or a
            sequence of paths.

    Returns:
        The file paths, in order.
    """
    if isinstance(root, str | os.PathLike):
        root = Path(root)
        if root.is_dir():
            return sorted(p for p in root.iterdir() if p.suffix in (".h5", ".hdf5"))
        if root.is_file() and root.suffix not in (".h5", ".hdf5"):
            lines = (ln.split("#", 1)[0].strip() for ln in root.read_text().splitlines())
            return [(root.parent / ln) if not Path(ln).is_absolute() else Path(ln)
                    for ln in lines if ln]
        if root.is_file():
            return [root]
        raise DataFileError(f"data root {str(root)!r}: expected a folder of .h5 files or a list "
                            "file; found nothing there")
    return [Path(p) for p in root]


class SliceDataset(Dataset):
    """One example per slice of every volume; files are checked once, opened once per worker.

    Each item is a dict ``kspace`` (complex64 ``[C, H, W]``, ``C = 1`` for single-coil),
    optional ``sensitivity_maps`` (complex64 ``[C, H, W]``), ``mask`` (float32 ``[1, 1, W]`` or
    ``[1, H, W]``), ``target`` (float32 ``[H', W']``), plus ``max_value`` (target volume max, NaN
    if unknown), ``fname`` (file base name) and ``slice_idx``, passed through ``transform``.

    ``max_value`` is the fastMRI attribute ``max`` for a ``reconstruction_rss`` target, else
    the maximum of the stored target volume. A file without a stored target gets the maximum
    of ``target_transform(slice)["target"]`` over all its slices (every slice, whatever
    ``sample_rate`` keeps), computed once per volume and process.

    Args:
        root: Folder of ``.h5`` files, a list file, or a sequence of paths.
        transform: Callable ``sample -> sample`` (e.g. a
            :class:`~atommic_rec.transforms.Compose`).
        sample_rate: Fraction of slices kept (random, from ``seed``).
        volume_sample_rate: Fraction of volumes kept instead (not both).
        seed: Seed of the sub-sampling.
        skip_bad_files: Skip bad files with a warning instead of raising; this also reads
            every value once at construction to skip files holding NaN/Inf (otherwise a
            non-finite slice is a ``DataFileError`` naming file and slice when it is read).
        target_keys: Target dataset names, first found wins.
        kspace_key: Name of the k-space dataset.
        sensitivity_key: Name of the sensitivity-map dataset.
        mask_key: Name of the mask dataset.
        target_transform: The part of ``transform`` that makes ``target`` (a private copy:
            crop, mask, maps, target), used only for ``max_value`` of files without a target.
    """

    def __init__(self, root: str | os.PathLike | Sequence[str | os.PathLike],
                 transform: Callable[[dict[str, Any]], Any] | None = None,
                 sample_rate: float = 1.0, volume_sample_rate: float | None = None,
                 seed: int = 0, skip_bad_files: bool = False,
                 target_keys: Sequence[str] = DEFAULT_TARGET_KEYS, kspace_key: str = "kspace",
                 sensitivity_key: str = "sensitivity_map", mask_key: str = "mask",
                 target_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                 ) -> None:
        if volume_sample_rate is not None and sample_rate != 1.0:
            raise ValueError("SliceDataset: expected sample_rate or volume_sample_rate, not both; "
                             f"found {sample_rate} and {volume_sample_rate}")
        rate = sample_rate if volume_sample_rate is None else volume_sample_rate
        if not 0 < rate <= 1:
            raise ValueError(f"SliceDataset: expected a sample rate in (0, 1]; found {rate}")
        self.transform = transform
        self.target_transform = target_transform
        self.keys = {"kspace": kspace_key, "maps": sensitivity_key, "mask": mask_key}
        self.target_keys = tuple(target_keys)
        rng = np.random.default_rng(seed)
        self._scan_values = bool(skip_bad_files)  # read every value once to find NaN/Inf
        self.volumes = self._check_all(list_files(root), skip_bad_files)
        if volume_sample_rate is not None:
            keep = max(round(len(self.volumes) * volume_sample_rate), 1)
            idx = np.sort(rng.permutation(len(self.volumes))[:keep])
            self.volumes = [self.volumes[i] for i in idx]
        self.examples = [(v, s) for v in range(len(self.volumes))
                         for s in range(self.volumes[v].num_slices)]
        if sample_rate < 1.0:
            keep = max(round(len(self.examples) * sample_rate), 1)
            idx = np.sort(rng.permutation(len(self.examples))[:keep])
            self.examples = [self.examples[i] for i in idx]
        self._handles: dict[int, h5py.File] = {}
        self._volume_max: dict[int, float] = {}
        self._pid = os.getpid()

    # -- checking ------------------------------------------------------------------------
    def _check_all(self, paths: list[Path], skip: bool) -> list[VolumeInfo]:
        volumes = []
        for path in paths:
            try:
                volumes.append(self._check_file(path))
            except DataFileError as exc:
                if not skip:
                    raise
                warnings.warn(f"skipping bad file: {exc}", DataSkipWarning, stacklevel=3)
        if not volumes:
            raise DataFileError(f"SliceDataset: expected at least one valid .h5 file; found "
                                f"{len(paths)} file(s), none usable")
        return volumes

    def _check_file(self, path: Path) -> VolumeInfo:
        try:
            with h5py.File(path, "r") as f:
                return self._inspect(path, f)
        except DataFileError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise DataFileError(f"{path}: cannot be read as HDF5 (missing, truncated or "
                                f"corrupt): {exc}") from exc

    def _inspect(self, path: Path, f: h5py.File) -> VolumeInfo:
        def bad(what: str) -> DataFileError:
            return DataFileError(f"{path}: {what}")

        key = self.keys["kspace"]
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise bad(f"expected a {key!r} dataset; found keys {sorted(f.keys())}")
        kspace = f[key]
        if kspace.ndim not in (3, 4) or kspace.dtype.kind != "c" or kspace.shape[0] < 1:
            raise bad(f"expected {key!r} complex [slices, coils, H, W] or [slices, H, W]; "
                      f"found {kspace.dtype} {kspace.shape}")
        _touch(kspace)  # a truncated file fails here, at construction, not mid-epoch
        slices, grid = kspace.shape[0], kspace.shape[-2:]
        has_maps = self.keys["maps"] in f
        if has_maps:
            maps = f[self.keys["maps"]]
            if maps.shape != kspace.shape:
                raise bad(f"expected {self.keys['maps']!r} of shape {kspace.shape} like "
                          f"k-space; found {maps.shape}")
            _touch(maps)
        target_key = next((k for k in self.target_keys if k in f), None)
        if target_key is not None:
            target = f[target_key]
            if target.ndim != 3 or target.shape[0] != slices:
                raise bad(f"expected {target_key!r} of shape [{slices}, H, W]; "
                          f"found {target.shape}")
            _touch(target)
        mask_layout = None
        if self.keys["mask"] in f:
            try:
                mask_layout = _mask_layout(f[self.keys["mask"]], slices, grid)
            except ValueError as exc:
                raise bad(f"{self.keys['mask']!r} for k-space {kspace.shape}: {exc}") from None
        if self._scan_values:
            for name in (key, self.keys["maps"] if has_maps else None, target_key):
                count = _non_finite_dataset(f[name]) if name is not None else 0
                if count:
                    raise bad(f"{name!r} holds {count} NaN/Inf value(s)")
        attrs = {k: _plain_attr(v) for k, v in f.attrs.items()}
        max_value = float(attrs["max"]) if target_key == "reconstruction_rss" and \
            "max" in attrs else math.nan
        return VolumeInfo(path, slices, kspace.ndim == 4, target_key, has_maps, mask_layout,
                          max_value, attrs)

    # -- reading -------------------------------------------------------------------------
    def _file(self, index: int) -> h5py.File:
        if os.getpid() != self._pid:  # forked worker: never share the parent's handles
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(index)
        if handle is None:
            handle = self._handles[index] = h5py.File(self.volumes[index].path, "r")
        return handle

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def example_groups(self) -> list[int]:
        """The volume of each example: under DDP each volume is evaluated whole on one rank."""
        return [vol for vol, _ in self.examples]

    def __getitem__(self, index: int) -> Any:
        """The sample of example ``index`` (a dict, or what ``transform`` returns)."""
        vol, slice_idx = self.examples[index]
        sample = self._read(vol, slice_idx)
        sample["max_value"] = self._max_value(vol)
        return sample if self.transform is None else \
            self._apply(self.transform, sample, vol, slice_idx)

    def _apply(self, transform: Callable[[dict[str, Any]], Any], sample: dict[str, Any],
               vol: int, slice_idx: int) -> Any:
        try:
            return transform(sample)
        except ValueError as exc:
            if type(exc) is not ValueError:
                raise
            raise ValueError(f"{self.volumes[vol].path.name} slice {slice_idx}: {exc}") from exc

    def _read(self, vol: int, slice_idx: int) -> dict[str, Any]:
        info = self.volumes[vol]
        try:
            sample = self._read_slice(vol, info, slice_idx)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise DataFileError(f"{info.path}: failed to read slice {slice_idx}: {exc}") from exc
        for key in ("kspace", "sensitivity_maps", "target"):  # cheap: one slice
            bad = _non_finite(sample.get(key))
            if bad:
                raise DataFileError(f"{info.path}: slice {slice_idx}: {key} holds {bad} NaN/Inf "
                                    "value(s); hint: fix or remove the file, or set "
                                    "skip_bad_files: true to skip files with non-finite data")
        return sample

    def _read_slice(self, vol: int, info: VolumeInfo, slice_idx: int) -> dict[str, Any]:
        f = self._file(vol)
        kspace = _complex(f[self.keys["kspace"]][slice_idx])
        sample: dict[str, Any] = {
            "kspace": kspace if info.multicoil else kspace.unsqueeze(0),
            "fname": info.path.name,
            "slice_idx": slice_idx,
        }
        if info.has_maps:
            maps = _complex(f[self.keys["maps"]][slice_idx])
            sample["sensitivity_maps"] = maps if info.multicoil else maps.unsqueeze(0)
        if info.target_key is not None:
            target = torch.from_numpy(np.asarray(f[info.target_key][slice_idx]))
            sample["target"] = (target.abs() if target.is_complex() else target).float()
        if info.mask_layout is not None:
            sample["mask"] = _read_mask(f[self.keys["mask"]], info.mask_layout, slice_idx)
        return sample

    def _max_value(self, vol: int) -> float:
        info = self.volumes[vol]
        if not math.isnan(info.max_value):
            return info.max_value
        if vol not in self._volume_max:  # once per volume and process
            if info.target_key is not None:  # the (small) stored target volume
                target = np.asarray(self._file(vol)[info.target_key])
                self._volume_max[vol] = float(np.abs(target).max())
            elif self.target_transform is not None:
                self._volume_max[vol] = max(self._computed_target_max(vol, s)
                                            for s in range(info.num_slices))
            else:
                return math.nan
        return self._volume_max[vol]

    def _computed_target_max(self, vol: int, slice_idx: int) -> float:
        sample = {**self._read(vol, slice_idx), "max_value": math.nan}
        return float(self._apply(self.target_transform, sample, vol, slice_idx)["target"].max())

    def close(self) -> None:
        """Close the open file handles of this process."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = {}  # h5py handles do not pickle; workers reopen lazily
        return state


def _non_finite(value: Any) -> int:
    """Number of NaN/Inf entries of a tensor (0 for None)."""
    if not isinstance(value, torch.Tensor):
        return 0
    return int((~torch.isfinite(value)).sum())


def _non_finite_dataset(dataset: h5py.Dataset) -> int:
    """Number of NaN/Inf entries of an HDF5 dataset, read one leading index at a time."""
    if dataset.dtype.kind not in "fc":
        return 0
    if dataset.ndim == 0:
        return int((~np.isfinite(dataset[()])).sum())
    return sum(int((~np.isfinite(dataset[i])).sum()) for i in range(dataset.shape[0]))


def _touch(dataset: h5py.Dataset) -> None:
    if dataset.size:
        dataset[(-1,) * dataset.ndim]


def _complex(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.complex64))


def _plain_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value.item() if isinstance(value, np.generic) else value


_MASK_LAYOUTS = {"lines": "[W]", "points": "[H, W]", "slice_lines": "[slices, W]",
                "slice_points": "[slices, H, W]"}


def _mask_layout(dataset: h5py.Dataset, slices: int, grid: tuple[int, int]) -> str:
    """The layout of a stored mask, from its ``layout`` attribute or else its shape.

    A ``[slices, W]`` per-slice line mask with ``slices == H`` has the shape of a ``[H, W]``
    point mask; the shape alone reads it as points (the common case), and an attribute
    ``layout = "slice_lines"`` on the dataset says otherwise.
    """
    h, w = grid
    shapes = {"lines": (w,), "points": (h, w), "slice_lines": (slices, w),
              "slice_points": (slices, h, w)}
    shape = tuple(dataset.shape)
    stated = _plain_attr(dataset.attrs["layout"]) if "layout" in dataset.attrs else None
    if stated is None:
        found = [name for name, expected in shapes.items() if expected == shape]
        if found:
            return found[0]  # "points" before "slice_lines": see the docstring
        raise ValueError(f"expected shape {', '.join(_MASK_LAYOUTS.values())}; found {shape}")
    if stated not in shapes:
        raise ValueError(f"attribute layout: expected one of {', '.join(shapes)}; "
                         f"found {stated!r}")
    if shapes[stated] != shape:
        raise ValueError(f"attribute layout={stated!r}: expected shape "
                         f"{_MASK_LAYOUTS[stated]} = {shapes[stated]}; found {shape}")
    return stated


def _read_mask(dataset: h5py.Dataset, layout: str, slice_idx: int) -> torch.Tensor:
    array = dataset[slice_idx] if layout.startswith("slice_") else dataset[()]
    mask = torch.from_numpy(np.asarray(array, dtype=np.float32))
    return mask.reshape(1, 1, -1) if mask.ndim == 1 else mask.unsqueeze(0)
