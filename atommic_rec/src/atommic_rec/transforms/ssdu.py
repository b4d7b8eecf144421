"""SSDU: split the measured k-space into a data-consistency set and a loss set.

Self-supervision via data undersampling (B. Yaman et al., "Self-supervised learning of
physics-guided reconstruction neural networks without fully sampled reference data", MRM
84:3172-3191, 2020, arXiv:1912.07669): the measured locations ``Omega`` are split into
disjoint sets ``Theta`` (the network's input and data consistency) and ``Lambda`` (the loss,
``|Lambda| = rho |Omega|``); the network is trained to predict the k-space on ``Lambda`` from
the data on ``Theta``, so no fully sampled reference is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from atommic_rec.masks import seed_from_fname
from atommic_rec.transforms.compose import register_transform

__all__ = ["SELECTIONS", "SSDUSplit", "ssdu_split_mask"]

SELECTIONS = ("uniform", "gaussian")


def _acs_block(h: int, w: int, size: Sequence[int], centered: bool) -> np.ndarray:
    keep = np.zeros((h, w), dtype=bool)
    bh, bw = min(int(size[0]), h), min(int(size[1]), w)
    keep[h // 2 - bh // 2: h // 2 - bh // 2 + bh, w // 2 - bw // 2: w // 2 - bw // 2 + bw] = True
    return keep if centered else np.fft.ifftshift(keep)


def _gaussian_weights(h: int, w: int, std_scale: float, centered: bool) -> np.ndarray:
    """Density of a Gaussian centred on DC with std ``size / std_scale`` per axis."""
    y, x = np.arange(h) - h // 2, np.arange(w) - w // 2
    density = np.exp(-0.5 * ((y[:, None] * std_scale / h) ** 2 + (x[None] * std_scale / w) ** 2))
    return density if centered else np.fft.ifftshift(density)


def _check_options(rho: float, selection: str) -> None:
    if not 0 < rho < 1:
        raise ValueError(f"ssdu: expected 0 < rho < 1 (the loss fraction); found {rho}")
    if selection not in SELECTIONS:
        raise ValueError(f"ssdu: expected selection in {SELECTIONS}; found {selection!r}")


def ssdu_split_mask(mask: torch.Tensor, rho: float = 0.4, selection: str = "uniform",
                    acs_block: Sequence[int] = (4, 4), std_scale: float = 4.0,
                    rng: np.random.Generator | None = None, *, centered: bool = True,
                    lines: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a sampling mask into SSDU's data-consistency and loss masks.

    ``round(rho * |Omega|)`` measured locations outside the central ``acs_block`` (which always
    stays in the data-consistency set) are drawn without replacement: uniformly, or with
    probability proportional to a Gaussian density centred on DC with standard deviation
    ``size / std_scale`` per axis (Yaman et al.'s "gaussian" selection).

    Args:
        mask: 0/1 float mask ``[..., 1, W]`` (lines) or ``[..., H, W]`` (points); leading dims
            must be 1. Lines are expanded to points over ``H`` (``H`` from the mask's
            ``[..., H, W]`` shape, so pass an expanded mask for a line mask).
        rho: Fraction of the measured locations in the loss set, in (0, 1).
        selection: ``uniform`` or ``gaussian``.
        acs_block: ``(h, w)`` central block kept out of the loss set.
        std_scale: Gaussian selection: std = size / std_scale.
        rng: Numpy generator (seeded by the caller).
        centered: Whether DC is in the middle of the array.
        lines: Split whole phase-encoding columns (W) instead of points, so that the network
            input keeps the column structure of 1D Cartesian undersampling (an option beyond
            Yaman et al., who split points).

    Returns:
        ``(dc_mask, loss_mask)`` float32 ``[H, W]``: disjoint, their sum is ``mask``.
    """
    _check_options(rho, selection)
    rng = np.random.default_rng() if rng is None else rng
    measured = mask.reshape(mask.shape[-2:]).detach().cpu().numpy() > 0
    grid = measured.any(axis=0, keepdims=True) if lines else measured
    loss = measured & _select(grid, rho, selection, acs_block, std_scale, rng, centered)
    return (torch.from_numpy(measured & ~loss).float(), torch.from_numpy(loss).float())


def _select(measured: np.ndarray, rho: float, selection: str, acs_block: Sequence[int],
            std_scale: float, rng: np.random.Generator, centered: bool) -> np.ndarray:
    """Boolean loss set: ``round(rho |measured|)`` locations outside the ACS block."""
    h, w = measured.shape
    candidates = measured & ~_acs_block(h, w, acs_block, centered)
    count = min(round(rho * int(measured.sum())), int(candidates.sum()))
    flat = np.flatnonzero(candidates)
    weights = None
    if selection == "gaussian":
        weights = _gaussian_weights(h, w, std_scale, centered).ravel()[flat]
        weights = weights / weights.sum()
    chosen = rng.choice(flat, size=count, replace=False, p=weights) if count else flat[:0]
    loss = np.zeros(h * w, dtype=bool)
    loss[chosen] = True
    return loss.reshape(h, w)


class SSDUSplit:
    """Split ``masked_kspace`` for SSDU training (YAML ``{name: ssdu_split, rho: 0.4}``).

    Runs after ``target`` (the maps and ACS come from all measured data) and before
    ``initial_image``: ``mask`` and ``masked_kspace`` become the data-consistency set
    ``Theta``, and ``ssdu_loss_mask`` (float32 ``[1, H, W]``) and ``ssdu_loss_kspace``
    (complex64 ``[C, H, W]``, the measured k-space on ``Lambda``) are added. The split is
    deterministic per item: seeded by ``seed``, the file name and the slice index.

    Args:
        rho: Fraction of the measured locations in the loss set (Yaman et al.: 0.4).
        selection: ``uniform`` or ``gaussian``.
        acs_block: Central ``[h, w]`` block always in the data-consistency set, or ``auto``:
            the whole fully sampled centre of each mask (all rows for a line mask), so that
            the network input keeps all calibration data (Yaman et al. keep only ``[4, 4]``).
        std_scale: Gaussian selection: std = size / std_scale.
        seed: Extra seed mixed into every item's seed.
        lines: Split whole columns (see :func:`ssdu_split_mask`).
        fft_centered: FFT convention of the data.
    """

    def __init__(self, rho: float = 0.4, selection: str = "uniform",
                 acs_block: Sequence[int] | str = (4, 4), std_scale: float = 4.0,
                 seed: int | None = 0, lines: bool = False, *,
                 fft_centered: bool = True) -> None:
        _check_options(float(rho), selection)
        self.rho, self.selection = float(rho), selection
        if isinstance(acs_block, str) and acs_block != "auto":
            raise ValueError(f"ssdu: expected acs_block [h, w] or 'auto'; found {acs_block!r}")
        self.acs_block = acs_block if isinstance(acs_block, str) else \
            tuple(int(v) for v in acs_block)
        self.std_scale = float(std_scale)
        self.seed = 0 if seed is None else int(seed)
        self.centered = bool(fft_centered)
        self.lines = bool(lines)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Replace ``mask``/``masked_kspace`` by ``Theta``; add the ``Lambda`` loss keys."""
        if "masked_kspace" not in sample:
            raise ValueError("ssdu_split: expected 'masked_kspace'; add 'mask' before it")
        sample = dict(sample)
        kspace = sample["masked_kspace"]
        mask = sample["mask"].expand(*sample["mask"].shape[:-2], *kspace.shape[-2:])
        rng = np.random.default_rng((self.seed, int(sample.get("slice_idx", 0)),
                                     *seed_from_fname(str(sample.get("fname", "")))))
        dc, loss = ssdu_split_mask(mask, self.rho, self.selection, self._acs(sample["mask"]),
                                   self.std_scale, rng, centered=self.centered,
                                   lines=self.lines)
        sample["mask"], sample["ssdu_loss_mask"] = dc[None], loss[None]
        sample["masked_kspace"] = kspace * dc
        sample["ssdu_loss_kspace"] = kspace * loss
        return sample

    def _acs(self, mask: torch.Tensor) -> tuple[int, int]:
        if self.acs_block != "auto":
            return self.acs_block
        from atommic_rec.transforms.coils import count_center_lines

        h, w = count_center_lines(mask, self.centered)
        return (10**9 if mask.shape[-2] == 1 else h, w)  # a line mask: every row

    def __repr__(self) -> str:
        return f"SSDUSplit(rho={self.rho}, selection={self.selection!r})"


register_transform("ssdu_split", SSDUSplit)
