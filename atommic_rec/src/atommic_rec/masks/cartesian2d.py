"""Point (2D Cartesian) masks on the ``H x W`` phase-encoding plane, e.g. for 3D acquisitions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from atommic_rec.masks.base import MaskFunc, center_slice
from atommic_rec.masks.cartesian1d import gaussian_fill

__all__ = ["Equispaced2DMaskFunc", "Gaussian2DMaskFunc", "Poisson2DMaskFunc"]


def _center_box(shape: tuple[int, int], center_fraction: float) -> np.ndarray:
    h, w = shape
    pattern = np.zeros((h, w), dtype=bool)
    pattern[center_slice(h, round(h * center_fraction)),
            center_slice(w, round(w * center_fraction))] = True
    return pattern


class Equispaced2DMaskFunc(MaskFunc):
    """A sheared (CAIPIRINHA-like) lattice: one point in every ``r`` along each row.

    Row ``y`` samples columns ``x`` with ``(x + shift * y - offset) % r == 0`` and
    ``shift ~ sqrt(r)``, which spreads points evenly in 2D for any integer ``r``; ``r`` is
    adjusted for the fully sampled central box of side ``center_fraction * (H, W)``.

    Args:
        accelerations: Nominal accelerations to choose from (one per call).
        center_fractions: Side of the fully sampled central box as a fraction of (H, W).
        partial_fourier: See :class:`~atommic_rec.masks.MaskFunc`.
    """

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[H, W]``."""
        pattern = _center_box(shape, center_fraction)
        total, center = pattern.size, int(pattern.sum())
        if center * acceleration >= total:
            return pattern
        spacing = max(round(acceleration * (total - center) / (total - center * acceleration)), 1)
        shift = max(round(math.sqrt(spacing)), 1)
        y, x = np.ogrid[: shape[0], : shape[1]]
        offset = int(rng.integers(spacing))
        return pattern | ((x + shift * y - offset) % spacing == 0)


class Gaussian2DMaskFunc(MaskFunc):
    """Points drawn without replacement with a 2D Gaussian density; ``~H*W/R`` points in all.

    Args:
        accelerations: See :class:`MaskFunc`.
        center_fractions: Side of the fully sampled central box as a fraction of (H, W).
        std: Standard deviation of the density as a fraction of each dim.
        partial_fourier: See :class:`MaskFunc`.
    """

    def __init__(self, accelerations: Sequence[float], center_fractions: Sequence[float],
                 *, std: float = 0.25, partial_fourier: float = 0.0) -> None:
        super().__init__(accelerations, center_fractions, partial_fourier=partial_fourier)
        if std <= 0:
            raise ValueError(f"Gaussian2DMaskFunc: expected std > 0; found {std}")
        self.std = float(std)

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[H, W]``."""
        return gaussian_fill(_center_box(shape, center_fraction), acceleration, self.std, rng)


class Poisson2DMaskFunc(MaskFunc):
    """Variable-density Poisson-disc points: no two samples closer than a local radius.

    The radius grows linearly with the distance from the centre, ``r0 * (1 + slope * d)``
    (``d`` = 0 at DC, 1 at the edge), so density falls off outwards; ``r0`` is calibrated
    (and cached per shape and acceleration) so ``~H*W/R`` points are sampled. Dart throwing
    visits every grid location once in random order.

    Args:
        accelerations: See :class:`MaskFunc`.
        center_fractions: Side of the fully sampled central box as a fraction of (H, W).
        slope: How fast the radius grows towards the edge (0 = uniform density).
        partial_fourier: See :class:`MaskFunc`.
    """

    _radius_cache: dict[tuple, float] = {}

    def __init__(self, accelerations: Sequence[float], center_fractions: Sequence[float],
                 *, slope: float = 1.0, partial_fourier: float = 0.0) -> None:
        super().__init__(accelerations, center_fractions, partial_fourier=partial_fourier)
        if slope < 0:
            raise ValueError(f"Poisson2DMaskFunc: expected slope >= 0; found {slope}")
        self.slope = float(slope)

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[H, W]``."""
        center = _center_box(shape, center_fraction)
        target = round(center.size / acceleration)
        if center.sum() >= target:
            return center
        order = rng.permutation(center.size)
        profile = self._profile(shape)
        key = (shape, acceleration, center_fraction, self.slope)
        r0 = self._radius_cache.get(key, math.sqrt(0.7 * (profile**-2).sum() / target))
        for _ in range(6):  # calibrate the radius: count ~ 1 / r0^2
            pattern = _dart_throw(center, r0 * profile, order)
            count = int(pattern.sum())
            if abs(count - target) <= 0.03 * target:
                break
            r0 *= math.sqrt(count / target)
        self._radius_cache[key] = r0
        return pattern

    def _profile(self, shape: tuple[int, int]) -> np.ndarray:
        y = (np.arange(shape[0]) - shape[0] // 2) / (shape[0] / 2)
        x = (np.arange(shape[1]) - shape[1] // 2) / (shape[1] / 2)
        dist = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2) / math.sqrt(2)
        return 1 + self.slope * dist


def _dart_throw(center: np.ndarray, radius: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Accept locations in ``order`` unless inside the disc of an accepted point."""
    h, w = center.shape
    pattern = center.copy()
    blocked = center.copy()
    for flat in order.tolist():
        y, x = divmod(flat, w)
        if blocked[y, x]:
            continue
        pattern[y, x] = True
        r = radius[y, x]
        ri = int(r)
        y0, y1, x0, x1 = max(y - ri, 0), min(y + ri + 1, h), max(x - ri, 0), min(x + ri + 1, w)
        yy, xx = np.ogrid[y0 - y:y1 - y, x0 - x:x1 - x]
        blocked[y0:y1, x0:x1] |= yy**2 + xx**2 < r * r
    return pattern
