"""Undersampling: draw (or read) a mask and apply it to the fully sampled k-space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from atommic_rec.masks import MaskFunc, create_mask_func, seed_from_fname
from atommic_rec.physics import apply_mask
from atommic_rec.transforms._rng import WorkerGenerator
from atommic_rec.transforms.compose import register_transform

__all__ = ["Mask", "acceleration_of"]


def acceleration_of(mask: torch.Tensor) -> float:
    """All locations / sampled locations of a 0/1 mask (broadcast dims count once).

    Args:
        mask: Float 0/1 mask, e.g. ``[1, 1, W]`` or ``[1, H, W]``.

    Returns:
        The acceleration (``inf``-safe: an empty mask counts as one sample).
    """
    return mask.numel() / max(float(mask.sum()), 1.0)


class Mask:
    """Undersample ``kspace`` into ``masked_kspace`` (YAML ``{name: mask, mask_args: {...}}``).

    Sets ``masked_kspace`` (complex64 ``[C, H, W]``), ``mask`` (float32, e.g. ``[1, 1, W]``)
    and ``acceleration`` (float). Without ``mask_args`` the file's mask is used if the sample
    has one (``mask`` key), else k-space stays fully sampled.

    Args:
        mask_args: Mask config dict for :func:`~atommic_rec.masks.create_mask_func`, or a
            :class:`~atommic_rec.masks.MaskFunc`, or None.
        use_seed: If True, the mask is deterministic per file name (fastMRI convention: the
            same mask for every slice of a volume); use it for validation and test. If False
            (training), masks come from a generator private to this transform and process,
            seeded from ``seed`` and, in a DataLoader worker, the worker's seed (which the
            DataLoader derives from its own generator): new masks every draw, reproducible
            runs, global RNGs untouched. ``seed=None`` then draws fresh OS entropy.
        seed: With ``use_seed``, an extra integer mixed into the per-file seed (different fixed
            masks per seed); without, the seed of the training-mask generator.
        fft_centered: If False, k-space has DC at index 0 and the mask is shifted to match.
    """

    def __init__(self, mask_args: Mapping[str, Any] | MaskFunc | None = None, *,
                 use_seed: bool = True, seed: int | None = None,
                 fft_centered: bool = True) -> None:
        self.mask_func = mask_args if isinstance(mask_args, MaskFunc) or mask_args is None \
            else create_mask_func(mask_args)
        self.use_seed = bool(use_seed)
        self.seed = seed
        self.fft_centered = bool(fft_centered)
        self._rng = WorkerGenerator(seed)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Add ``masked_kspace``, ``mask`` and ``acceleration`` to ``sample``."""
        sample = dict(sample)
        kspace = sample["kspace"]
        if self.mask_func is not None:
            if self.use_seed:
                mask, acceleration = self.mask_func(kspace.shape, seed=self._seed(sample))
            else:
                mask, acceleration = self.mask_func(kspace.shape, generator=self._rng.get())
            if not self.fft_centered:
                mask = torch.fft.ifftshift(mask, dim=(-2, -1))
        elif sample.get("mask") is not None:
            mask = sample["mask"].float()
            acceleration = acceleration_of(mask)
        else:
            mask = torch.ones((1,) * (kspace.ndim - 1) + kspace.shape[-1:])
            acceleration = 1.0
        sample["masked_kspace"] = apply_mask(kspace, mask)
        sample["mask"] = mask
        sample["acceleration"] = float(acceleration)
        return sample

    def _seed(self, sample: dict[str, Any]) -> tuple[int, ...]:
        base = seed_from_fname(str(sample.get("fname", "")))
        return base if self.seed is None else (int(self.seed), *base)

    def __repr__(self) -> str:
        return f"Mask({self.mask_func!r}, use_seed={self.use_seed})"


register_transform("mask", Mask)
