"""The label path of the joint chain: transforms that move ``segmentation`` with the image.

They register in REC's transform registry (:func:`atommic_rec.transforms.register_transform`),
so a YAML ``transforms`` list can mix them with REC's. Each is a no-op on samples without a
``segmentation`` key (prediction data; REC's private copy of the chain that computes a
volume's target maximum).

- ``segmentation_crop`` / ``segmentation_pad``: the centre crop/zero pad that REC's ``crop``
  / ``pad`` apply to the image grid (:func:`~atommic_rec.transforms.center_crop_or_pad`, so
  both keep the same centre pixel).
- ``joint_flip``: a random image-domain flip of k-space (through ``ifft -> flip -> fft``,
  exact for any size and FFT convention), maps, target and labels together; training only,
  before ``mask``.
- ``joint_finalize``: REC's ``finalize`` plus ``segmentation`` and ``spacing``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info

from atommic_rec.physics import fft2, ifft2
from atommic_rec.transforms import Finalize, center_crop_or_pad, register_transform

__all__ = ["JointFinalize", "JointFlip", "SegmentationCrop", "SegmentationPad"]


class _SegmentationResize:
    """Centre crop or zero pad ``segmentation`` to ``size`` (background fills the padding)."""

    label = ""

    def __init__(self, size: Sequence[int]) -> None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"{self.label}: expected size [H, W] of positive ints; found "
                             f"{list(size)}")
        self.size = tuple(int(s) for s in size)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Resize the labels' last two axes; samples without labels pass unchanged."""
        if sample.get("segmentation") is None:
            return sample
        return {**sample, "segmentation": center_crop_or_pad(sample["segmentation"], self.size)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={list(self.size)})"


class SegmentationCrop(_SegmentationResize):
    """Centre-crop labels like REC's ``crop`` crops the image (``{name: segmentation_crop}``).

    Args:
        size: Output ``[H, W]``; use the size of the ``crop`` step it accompanies.
    """

    label = "segmentation_crop"


class SegmentationPad(_SegmentationResize):
    """Zero-pad labels like REC's ``pad`` pads the image (``{name: segmentation_pad}``).

    Args:
        size: Output ``[H, W]``; use the size of the ``pad`` step it accompanies.
    """

    label = "segmentation_pad"


def _reflect(n: int, centered: bool) -> torch.Tensor:
    """Index map of the frequency reflection ``f -> -f`` on an axis of ``n`` samples.

    An image flip ``x[m] -> x[n - 1 - m]`` moves the sample of frequency ``f`` to ``-f`` (times
    a phase), so a stored sampling pattern is re-indexed with this map.
    """
    i = torch.arange(n)
    return (2 * (n // 2) - i) % n if centered else (-i) % n


class JointFlip:
    """Random flips of the whole sample: k-space, maps, target and labels alike.

    YAML ``{name: joint_flip, prob: 0.5, axes: [-1]}``, or ``train_ds.flip: {prob: 0.5, axes:
    [-1]}`` (the default chain then adds it on the training split, before ``mask``). Each
    axis flips with probability ``prob``. k-space goes through the image domain, so the
    flipped sample is again an exact acquisition of the flipped object.

    Args:
        prob: Probability of flipping each axis.
        axes: Image axes to flip: ``-1`` (columns) and/or ``-2`` (rows).
        seed: Seed of the private generator, mixed with the DataLoader worker seed (global
            RNGs untouched; ``None`` without a worker draws fresh OS entropy).
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    def __init__(self, prob: float = 0.5, axes: Sequence[int] = (-1,), *,
                 seed: int | None = None, fft_centered: bool = True,
                 fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"joint_flip: expected prob in [0, 1]; found {prob}")
        axes = [int(a) for a in axes]
        if not axes or any(a not in (-2, -1) for a in axes):
            raise ValueError(f"joint_flip: expected axes among [-2, -1]; found {axes}")
        self.prob, self.axes, self.seed = float(prob), sorted(set(axes)), seed
        self.fft_kw = {"centered": bool(fft_centered), "normalization": str(fft_normalization),
                       "spatial_dims": tuple(int(d) for d in spatial_dims)}
        self._rng: np.random.Generator | None = None
        self._owner: tuple[int, int | None] | None = None

    def _generator(self) -> np.random.Generator:
        info = get_worker_info()
        owner = (os.getpid(), None if info is None else int(info.seed))
        if self._rng is None or owner != self._owner:
            entropy = None if self.seed is None and info is None else \
                [int(self.seed or 0), 0x666C6970] + ([] if info is None else [int(info.seed)])
            self._rng, self._owner = np.random.default_rng(entropy), owner
        return self._rng

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Flip the drawn axes of every image-grid key; must run before ``mask``."""
        if "masked_kspace" in sample:
            raise ValueError("joint_flip: expected to run before 'mask' (an undersampled "
                             "k-space cannot be flipped with its pattern); reorder the transforms")
        rng = self._generator()
        dims = [a for a in self.axes if rng.random() < self.prob]
        if not dims:
            return sample
        sample = dict(sample)
        sample["kspace"] = fft2(ifft2(sample["kspace"], **self.fft_kw).flip(dims), **self.fft_kw)
        for key in ("sensitivity_maps", "target", "segmentation"):
            if sample.get(key) is not None:
                sample[key] = sample[key].flip(dims)
        if sample.get("mask") is not None:  # a stored mask: frequencies f -> -f
            mask = sample["mask"]
            for d in dims:
                if mask.shape[d] > 1:
                    mask = mask.index_select(d, _reflect(mask.shape[d], self.fft_kw["centered"]))
            sample["mask"] = mask
        return sample

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_rng"] = state["_owner"] = None  # each worker seeds its own generator
        return state

    def __repr__(self) -> str:
        return f"JointFlip(prob={self.prob}, axes={self.axes})"


class JointFinalize(Finalize):
    """REC's sample dict (see :class:`~atommic_rec.transforms.Finalize`) plus the labels.

    YAML ``{name: joint_finalize}``. Adds ``segmentation`` (int64 ``[H, W]`` class indices or
    float32 ``[K, H, W]`` channels, on the target's grid) when the sample has labels, and
    ``spacing`` (float64 ``[3]``, mm).

    Args:
        keep_kspace: Also keep the fully sampled ``kspace``.
        require_segmentation: A sample without labels is an error (False for prediction).
    """

    def __init__(self, keep_kspace: bool = False, require_segmentation: bool = True) -> None:
        super().__init__(keep_kspace)
        self.require_segmentation = bool(require_segmentation)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Check and convert ``sample``; labels must cover the target's grid."""
        out = super().__call__(sample)
        labels = sample.get("segmentation")
        if labels is None:
            if self.require_segmentation:
                raise ValueError(f"sample of {sample.get('fname')!r}: expected key "
                                 "'segmentation'; found none; add labels to the file")
        else:
            grid = tuple(out["target"].shape[-2:])
            if tuple(labels.shape[-2:]) != grid:
                size = list(labels.shape[-2:])
                raise ValueError(f"segmentation: expected the image grid {list(grid)}; found "
                                 f"{size}; set crop_size: {size} (labels on the cropped target "
                                 "grid) or crop both")
            out["segmentation"] = labels.contiguous()
        out["spacing"] = torch.as_tensor(sample.get("spacing", (1.0, 1.0, 1.0)),
                                         dtype=torch.float64)
        return out

    def __repr__(self) -> str:
        return f"JointFinalize(keep_kspace={self.keep_kspace})"


register_transform("segmentation_crop", SegmentationCrop)
register_transform("segmentation_pad", SegmentationPad)
register_transform("joint_flip", JointFlip)
register_transform("joint_finalize", JointFinalize)
