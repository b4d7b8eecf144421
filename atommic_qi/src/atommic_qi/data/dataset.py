"""Slice dataset over multi-echo HDF5 files (REC's :class:`SliceDataset`, one more axis).

File layout (one volume per file)::

    kspace            complex [slices, echoes, coils, H, W]   (echo_axis=1, the default)
                      or      [slices, coils, echoes, H, W]   (echo_axis=2)
                      or      [slices, echoes, H, W]          (single coil)
    sensitivity_map   complex [slices, coils, H, W]           optional (shared by all echoes)
    mask              [W], [H, W], [slices, W] or [slices, H, W]  optional (REC's layouts)
    anatomy_mask      [slices, H, W] 0/1 brain mask           optional
    qmaps             float [slices, 4, H, W] (R2*, S0, B0, phi)   optional target maps, or
    R2star_map_target, S0_map_target, B0_map_target, phi_map_target  [slices, H, W] each
    attrs: TEs (echo times in ms, one per echo), affine (4x4, optional), REC's attrs

Target maps are in the units of the signal model the file was written for (``gre``: 1/s,
a.u., Hz, rad). Every file is checked once at construction (shapes, echo count vs TEs, all
target maps present); a NaN/Inf slice raises a :class:`~atommic_rec.data.DataFileError`
naming file, slice and key when it is read.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from atommic_qi.physics.signal import MAP_NAMES
from atommic_rec.data.slice_dataset import (
    DataFileError,
    SliceDataset,
    VolumeInfo,
    _complex,
    _mask_layout,
    _non_finite,
    _non_finite_dataset,
    _plain_attr,
    _read_mask,
    _touch,
)

__all__ = ["MAP_TARGET_KEYS", "EchoVolumeInfo", "MultiEchoSliceDataset", "check_echo_times"]

MAP_TARGET_KEYS = tuple(f"{name}_map_target" for name in MAP_NAMES)


def check_echo_times(tes: Any, echoes: int | None, where: str) -> tuple[float, ...]:
    """Validate echo times in ms: ``echoes`` positive, strictly increasing, finite numbers.

    Args:
        tes: A sequence of numbers (ms).
        echoes: The number of echoes they must match (None: any >= 2).
        where: Names the source in the error (file or config key).

    Returns:
        The echo times as a tuple of floats.
    """
    try:
        values = tuple(float(t) for t in np.asarray(tes, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected echo times in ms (a list of numbers); found "
                         f"{tes!r}") from None
    ok = all(math.isfinite(t) and t > 0 for t in values) and \
        all(b > a for a, b in itertools.pairwise(values))
    count_ok = len(values) >= 2 if echoes is None else len(values) == echoes
    if not ok or not count_ok:
        count = "at least 2" if echoes is None else str(echoes)
        raise ValueError(f"{where}: expected {count} positive, increasing echo times in ms; "
                         f"found {list(values)}")
    return values


@dataclass(frozen=True, kw_only=True)
class EchoVolumeInfo(VolumeInfo):
    """:class:`~atommic_rec.data.VolumeInfo` plus the echo count, echo times and targets.

    Keyword-only: REC's fields may end with defaults.
    """

    echoes: int
    tes: tuple[float, ...]
    qmaps_layout: str | None  # "stacked" (qmaps), "separate" (four *_map_target) or None
    has_anatomy: bool


class MultiEchoSliceDataset(SliceDataset):
    """One example per slice of every multi-echo volume (see the module docstring).

    Each item is a dict ``kspace`` (complex64 ``[E, C, H, W]``), optional
    ``sensitivity_maps`` (complex64 ``[C, H, W]``), ``mask`` (float32, REC layouts with a
    leading echo dim of 1), ``anatomy_mask`` (float32 ``[H, W]``), ``qmaps_target`` (float32
    ``[4, H, W]``), ``TEs`` (float32 ``[E]``, ms), ``fname`` and ``slice_idx``, passed through
    ``transform``. ``example_groups`` (REC's) lets DDP evaluate each volume whole on one rank.

    Args:
        root: Folder of ``.h5`` files, a list file, or a sequence of paths.
        transform: Callable ``sample -> sample``.
        tes: Echo times in ms for files without a ``TEs`` attribute; a file whose attribute
            differs is an error (None: every file must have the attribute).
        echo_axis: Axis of the echoes in the ``kspace`` dataset: 1 (``[slices, echoes, coils,
            H, W]``) or 2 (``[slices, coils, echoes, H, W]``).
        sample_rate: Fraction of slices kept (random, from ``seed``).
        volume_sample_rate: Fraction of volumes kept instead (not both).
        seed: Seed of the sub-sampling.
        skip_bad_files: Skip bad files (including NaN/Inf values) with a warning.
        kspace_key: Name of the k-space dataset.
        sensitivity_key: Name of the sensitivity-map dataset.
        mask_key: Name of the sampling-mask dataset.
        anatomy_key: Name of the brain-mask dataset.
    """

    def __init__(self, root: str | os.PathLike | Sequence[str | os.PathLike],
                 transform: Callable[[dict[str, Any]], Any] | None = None, *,
                 tes: Sequence[float] | None = None, echo_axis: int = 1,
                 sample_rate: float = 1.0, volume_sample_rate: float | None = None,
                 seed: int = 0, skip_bad_files: bool = False, kspace_key: str = "kspace",
                 sensitivity_key: str = "sensitivity_map", mask_key: str = "mask",
                 anatomy_key: str = "anatomy_mask") -> None:
        if echo_axis not in (1, 2):
            raise ValueError(f"echo_axis: expected 1 ([slices, echoes, coils, H, W]) or 2 "
                             f"([slices, coils, echoes, H, W]); found {echo_axis!r}")
        self.echo_axis = int(echo_axis)
        self.config_tes = None if tes is None else check_echo_times(tes, None, "TEs")
        self.anatomy_key = anatomy_key
        super().__init__(root, transform, sample_rate=sample_rate,
                         volume_sample_rate=volume_sample_rate, seed=seed,
                         skip_bad_files=skip_bad_files, target_keys=(), kspace_key=kspace_key,
                         sensitivity_key=sensitivity_key, mask_key=mask_key)

    # -- checking ------------------------------------------------------------------------
    def _inspect(self, path: Path, f: h5py.File) -> EchoVolumeInfo:
        def bad(what: str) -> DataFileError:
            return DataFileError(f"{path}: {what}")

        key = self.keys["kspace"]
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise bad(f"expected a {key!r} dataset; found keys {sorted(f.keys())}")
        kspace = f[key]
        layout = "[slices, echoes, coils, H, W]" if self.echo_axis == 1 else \
            "[slices, coils, echoes, H, W]"
        multicoil = kspace.ndim == 5
        if kspace.dtype.kind != "c" or kspace.ndim not in (4, 5) or kspace.shape[0] < 1 or \
                (not multicoil and self.echo_axis != 1):
            raise bad(f"expected {key!r} complex {layout} (or single-coil [slices, echoes, H, "
                      f"W]); found {kspace.dtype} {kspace.shape}; hint: set echo_axis if the "
                      "echoes are on another axis")
        _touch(kspace)  # a truncated file fails here, at construction
        slices, grid = kspace.shape[0], tuple(kspace.shape[-2:])
        echoes = kspace.shape[self.echo_axis]
        coils = kspace.shape[3 - self.echo_axis] if multicoil else 1
        has_maps = self._check_shape(f, self.keys["maps"], (slices, coils, *grid), bad)
        has_anatomy = self._check_shape(f, self.anatomy_key, (slices, *grid), bad)
        qmaps_layout = self._qmaps_layout(f, slices, grid, bad)
        mask_layout = None
        if self.keys["mask"] in f:
            try:
                mask_layout = _mask_layout(f[self.keys["mask"]], slices, grid)
            except ValueError as exc:
                raise bad(f"{self.keys['mask']!r} for k-space {kspace.shape}: {exc}") from None
        attrs = {k: _plain_attr(v) for k, v in f.attrs.items()}
        tes = self._echo_times(attrs, echoes, path)
        if self._scan_values:
            names = [key, self.keys["maps"] if has_maps else None,
                     self.anatomy_key if has_anatomy else None,
                     *(("qmaps",) if qmaps_layout == "stacked" else
                       MAP_TARGET_KEYS if qmaps_layout else ())]
            for name in names:
                count = _non_finite_dataset(f[name]) if name is not None else 0
                if count:
                    raise bad(f"{name!r} holds {count} NaN/Inf value(s)")
        return EchoVolumeInfo(path, slices, multicoil, None, has_maps, mask_layout, math.nan,
                              attrs, echoes=echoes, tes=tes, qmaps_layout=qmaps_layout,
                              has_anatomy=has_anatomy)

    @staticmethod
    def _check_shape(f: h5py.File, name: str, shape: tuple[int, ...],
                     bad: Callable[[str], DataFileError]) -> bool:
        if name not in f:
            return False
        if tuple(f[name].shape) != shape:
            raise bad(f"expected {name!r} of shape {list(shape)}; found {list(f[name].shape)}")
        _touch(f[name])
        return True

    def _qmaps_layout(self, f: h5py.File, slices: int, grid: tuple[int, int],
                      bad: Callable[[str], DataFileError]) -> str | None:
        if "qmaps" in f:
            self._check_shape(f, "qmaps", (slices, len(MAP_NAMES), *grid), bad)
            return "stacked"
        present = [k for k in MAP_TARGET_KEYS if k in f]
        if not present:
            return None
        missing = [k for k in MAP_TARGET_KEYS if k not in f]
        if missing:
            raise bad(f"expected all four target maps {list(MAP_TARGET_KEYS)} (or one 'qmaps' "
                      f"[slices, 4, H, W]); found {present}, missing {missing}")
        for k in MAP_TARGET_KEYS:
            self._check_shape(f, k, (slices, *grid), bad)
        return "separate"

    def _echo_times(self, attrs: dict[str, Any], echoes: int, path: Path) -> tuple[float, ...]:
        stored = attrs.get("TEs")
        if stored is None:
            if self.config_tes is None:
                raise DataFileError(f"{path}: expected echo times: a 'TEs' attribute (ms) or "
                                    "TEs in the dataset config; found neither")
            if len(self.config_tes) != echoes:
                raise DataFileError(f"{path}: expected {echoes} echo times (the file has {echoes}"
                                    f" echoes); found TEs {list(self.config_tes)} in the config")
            return self.config_tes
        try:
            tes = check_echo_times(stored, echoes, f"{path}: attribute 'TEs'")
        except ValueError as exc:
            raise DataFileError(str(exc)) from None
        if self.config_tes is not None and not np.allclose(tes, self.config_tes, rtol=1e-6):
            raise DataFileError(f"{path}: attribute TEs {list(tes)} contradicts the config's "
                                f"TEs {list(self.config_tes)}; expected the same echo times; "
                                "hint: drop TEs from the config (files carry their own)")
        return tes

    # -- reading -------------------------------------------------------------------------
    def _read(self, vol: int, slice_idx: int) -> dict[str, Any]:
        sample = super()._read(vol, slice_idx)
        for key in ("qmaps_target", "anatomy_mask"):
            bad = _non_finite(sample.get(key))
            if bad:
                raise DataFileError(f"{self.volumes[vol].path}: slice {slice_idx}: {key} holds "
                                    f"{bad} NaN/Inf value(s); hint: fix or remove the file, or "
                                    "set skip_bad_files: true")
        return sample

    def _read_slice(self, vol: int, info: VolumeInfo, slice_idx: int) -> dict[str, Any]:
        assert isinstance(info, EchoVolumeInfo)
        f = self._file(vol)
        kspace = _complex(f[self.keys["kspace"]][slice_idx])
        if not info.multicoil:
            kspace = kspace.unsqueeze(1)
        elif self.echo_axis == 2:
            kspace = kspace.movedim(1, 0)
        sample: dict[str, Any] = {"kspace": kspace.contiguous(), "fname": info.path.name,
                                  "slice_idx": slice_idx,
                                  "TEs": torch.tensor(info.tes, dtype=torch.float32)}
        if info.has_maps:
            sample["sensitivity_maps"] = _complex(f[self.keys["maps"]][slice_idx])
        if info.mask_layout is not None:
            sample["mask"] = _read_mask(f[self.keys["mask"]], info.mask_layout, slice_idx)[None]
        if info.has_anatomy:
            sample["anatomy_mask"] = _real(f[self.anatomy_key][slice_idx])
        if info.qmaps_layout == "stacked":
            sample["qmaps_target"] = _real(f["qmaps"][slice_idx])
        elif info.qmaps_layout == "separate":
            sample["qmaps_target"] = torch.stack([_real(f[k][slice_idx])
                                                  for k in MAP_TARGET_KEYS])
        return sample

    def affine(self, fname: str) -> np.ndarray | None:
        """The 4x4 ``affine`` attribute of the file named ``fname`` (None when absent)."""
        for info in self.volumes:
            if info.path.name == fname and info.attrs.get("affine") is not None:
                return np.asarray(info.attrs["affine"], dtype=np.float64).reshape(4, 4)
        return None


def _real(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
