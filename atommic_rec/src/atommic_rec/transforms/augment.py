"""Physics-consistent training augmentation of the fully sampled sample (before ``mask``).

Real scanner data have an arbitrary global phase, coil order and orientation; simulated
training data often do not, and a network then learns shortcuts such as "the image is nearly
real". Each augmentation here changes the sample into another exactly valid acquisition of a
transformed object: k-space stays the Fourier transform of the coil images, the maps still
describe the coils and the target is still the image.

- ``global_phase``: ``k <- exp(i phi) k`` (maps unchanged; a complex target rotates too). The
  MR signal model is exactly invariant to it: ``S (exp(i phi) x)`` has the k-space
  ``exp(i phi) F S x``.
- ``flip``/``transpose``: the image-domain flip or transpose, applied to k-space through the
  image domain (``ifft -> flip -> fft``, exact for any FFT convention and size), and to the maps,
  the target and a stored mask (frequency reflection ``f -> -f`` of the sampled locations).
  Transposes need square grids and are skipped otherwise.
- ``coil_permutation``: the same random coil order for k-space and maps.
- ``scale``: one log-uniform intensity factor for k-space, target and ``max_value``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from atommic_core.errors import ConfigError
from atommic_rec.physics import fft2, ifft2
from atommic_rec.transforms._fft_opts import FFTOptions
from atommic_rec.transforms._rng import WorkerGenerator
from atommic_rec.transforms.compose import register_transform

__all__ = ["AUGMENTATIONS", "Augment", "augment_transform_config", "reflect_frequencies"]

AUGMENTATIONS = ("global_phase", "flip", "transpose", "coil_permutation", "scale")
_STREAM = 0x617567  # "aug": independent of the training masks drawn from the same seed


def reflect_frequencies(n: int, centered: bool) -> torch.Tensor:
    """Index map of the frequency reflection ``f -> -f`` along an axis of ``n`` samples.

    An image flip ``x[m] -> x[n - 1 - m]`` moves the k-space sample of frequency ``f`` to
    ``-f`` (times a phase), so a sampling mask must be re-indexed with this map.

    Args:
        n: Axis length.
        centered: Whether DC is at index ``n // 2`` (else at 0).

    Returns:
        Long tensor ``[n]``: output index ``i`` takes input index ``out[i]``.
    """
    i = torch.arange(n)
    return (2 * (n // 2) - i) % n if centered else (-i) % n


def augment_transform_config(augmentations: Mapping[str, Any],
                             seed: int | None) -> dict[str, Any]:
    """The ``{name: augment, ...}`` transform entry of a ``train_ds.augmentations`` dict.

    Args:
        augmentations: e.g. ``{global_phase: true, flip: 0.5, coil_permutation: true}``.
        seed: The split's seed (training draws use a private generator seeded by it).

    Returns:
        A transform dict for :func:`~atommic_rec.transforms.build_transforms`.
    """
    if not isinstance(augmentations, Mapping):
        raise ConfigError(f"train_ds.augmentations: expected a dict such as {{global_phase: "
                          f"true, flip: 0.5}}; found {augmentations!r}")
    unknown = [str(k) for k in augmentations if k not in AUGMENTATIONS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], AUGMENTATIONS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it"
        raise ConfigError(f"train_ds.augmentations: expected keys among {list(AUGMENTATIONS)}; "
                          f"found unknown {unknown}; hint: {hint}")
    return {"name": "augment", **dict(augmentations), "seed": seed}


def _probability(value: Any, name: str, default: float) -> float:
    p = default if value is True else 0.0 if value in (False, None) else float(value)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"augment: expected {name} a probability in [0, 1] or a bool; "
                          f"found {value!r}")
    return p


class Augment:
    """Random physics-consistent augmentation of a fully sampled REC sample.

    YAML ``{name: augment, global_phase: true, flip: 0.5, transpose: 0.5, coil_permutation:
    true, scale: [0.5, 2.0]}``, or ``train_ds.augmentations`` with the same keys (the default
    chain then runs it, on the training split only, right before ``mask``). It must run before
    ``mask``: undersampled k-space keeps its sampling pattern only under the global phase.

    Args:
        global_phase: Probability of multiplying k-space by ``exp(i phi)``, ``phi`` uniform in
            ``[0, 2 pi)`` (True = always).
        flip: Probability of flipping each image axis (True = 0.5).
        transpose: Probability of transposing the image (True = 0.5); square grids only,
            skipped otherwise.
        coil_permutation: Probability of a random coil order (True = always).
        scale: ``[low, high]`` range of a log-uniform intensity factor, or None.
        seed: Seed of the private generator (mixed with the DataLoader worker seed).
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims of k-space ``[C, H, W]``.
    """

    def __init__(self, global_phase: bool | float = False, flip: bool | float = 0.0,
                 transpose: bool | float = 0.0, coil_permutation: bool | float = False,
                 scale: Sequence[float] | None = None, *, seed: int | None = None,
                 fft_centered: bool = True, fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        self.p_phase = _probability(global_phase, "global_phase", 1.0)
        self.p_flip = _probability(flip, "flip", 0.5)
        self.p_transpose = _probability(transpose, "transpose", 0.5)
        self.p_coils = _probability(coil_permutation, "coil_permutation", 1.0)
        if scale is not None and (len(scale) != 2 or not 0 < float(scale[0]) <= float(scale[1])):
            raise ConfigError(f"augment: expected scale [low, high] with 0 < low <= high; "
                              f"found {scale!r}")
        self.scale = None if scale is None else (float(scale[0]), float(scale[1]))
        self.fft = FFTOptions(fft_centered, fft_normalization, spatial_dims)
        self._rng = WorkerGenerator(seed, stream=_STREAM)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Augment ``kspace`` and, consistently, ``sensitivity_maps``, ``target`` and ``mask``."""
        if "masked_kspace" in sample:
            raise ValueError("augment: expected to run before 'mask' (flips of undersampled "
                             "k-space move its sampling pattern); reorder the transforms")
        rng = self._rng.get()
        sample = dict(sample)
        if rng.random() < self.p_coils and sample["kspace"].shape[-3] > 1:
            self._permute_coils(sample, rng)
        flips = [d for d in (-2, -1) if rng.random() < self.p_flip]
        transpose = rng.random() < self.p_transpose
        if transpose and sample["kspace"].shape[-2] != sample["kspace"].shape[-1]:
            transpose = False  # a transpose of a non-square grid would change the grid
        if flips or transpose:
            self._flip_transpose(sample, flips, transpose)
        factor = complex(1.0)
        if rng.random() < self.p_phase:
            factor *= complex(np.exp(1j * rng.uniform(0.0, 2 * math.pi)))
        if self.scale is not None:
            low, high = np.log(self.scale)
            gain = float(np.exp(rng.uniform(low, high)))
            factor *= gain
            if sample.get("max_value") is not None:
                sample["max_value"] = float(sample["max_value"]) * gain
            if sample.get("target") is not None:
                sample["target"] = sample["target"] * gain
        if factor != 1.0:
            sample["kspace"] = sample["kspace"] * torch.tensor(factor, dtype=torch.complex64)
            target = sample.get("target")
            if target is not None and target.is_complex() and factor.imag != 0.0:
                sample["target"] = target * (factor / abs(factor))
        return sample

    def _permute_coils(self, sample: dict[str, Any], rng: np.random.Generator) -> None:
        order = torch.from_numpy(rng.permutation(sample["kspace"].shape[-3]))
        for key in ("kspace", "sensitivity_maps"):
            if sample.get(key) is not None:
                sample[key] = sample[key].index_select(-3, order)

    def _flip_transpose(self, sample: dict[str, Any], flips: list[int], transpose: bool) -> None:
        dims = self.fft.spatial_dims
        grid = tuple(sample["kspace"].shape[d] for d in dims)
        target = sample.get("target")
        if target is not None and tuple(target.shape[-2:]) != grid:
            raise ValueError(f"augment: expected the target on the k-space grid {list(grid)} "
                             f"to flip or transpose it; found {list(target.shape)}; set "
                             f"crop_size: {list(target.shape[-2:])}")

        def image_op(x: torch.Tensor, spatial: tuple[int, int]) -> torch.Tensor:
            if flips:
                x = x.flip([spatial[d] for d in flips])
            return x.transpose(*spatial) if transpose else x

        kw = self.fft.kwargs()
        sample["kspace"] = fft2(image_op(ifft2(sample["kspace"], **kw), dims), **kw)
        if sample.get("sensitivity_maps") is not None:
            sample["sensitivity_maps"] = image_op(sample["sensitivity_maps"], dims)
        if target is not None:
            sample["target"] = image_op(target, (-2, -1))
        if sample.get("mask") is not None:
            sample["mask"] = self._move_mask(sample["mask"], grid, flips, transpose)

    def _move_mask(self, mask: torch.Tensor, grid: tuple[int, int], flips: list[int],
                   transpose: bool) -> torch.Tensor:
        for d in flips:
            if mask.shape[d] > 1:  # a broadcast axis is the same at f and -f
                mask = mask.index_select(d, reflect_frequencies(mask.shape[d],
                                                                self.fft.fft_centered))
        if transpose:
            mask = mask.expand(*mask.shape[:-2], *grid).transpose(-2, -1).contiguous()
        return mask

    def __repr__(self) -> str:
        return (f"Augment(global_phase={self.p_phase}, flip={self.p_flip}, "
                f"transpose={self.p_transpose}, coil_permutation={self.p_coils}, "
                f"scale={self.scale})")


register_transform("augment", Augment)
