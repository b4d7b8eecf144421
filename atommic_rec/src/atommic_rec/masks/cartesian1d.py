"""Line (1D Cartesian) masks along the last, phase-encoding dim: random, equispaced, Gaussian."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atommic_rec.masks.base import MaskFunc, center_slice

__all__ = ["Equispaced1DMaskFunc", "Gaussian1DMaskFunc", "Random1DMaskFunc", "gaussian_fill",
           "lattice_fill", "lattice_spacing"]


def _center_lines(width: int, center_fraction: float) -> np.ndarray:
    pattern = np.zeros(width, dtype=bool)
    pattern[center_slice(width, round(width * center_fraction))] = True
    return pattern


class Random1DMaskFunc(MaskFunc):
    """fastMRI random lines: centre fully sampled, other lines kept with a fixed probability.

    The probability ``(W / R - n_center) / (W - n_center)`` gives acceleration ``R`` on average.

    Args:
        accelerations: Nominal accelerations to choose from (one per call).
        center_fractions: Fraction of the centre lines fully sampled, one per acceleration.
        partial_fourier: See :class:`~atommic_rec.masks.MaskFunc`.
    """

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[W]``."""
        width = shape[-1]
        pattern = _center_lines(width, center_fraction)
        num_low = int(pattern.sum())
        prob = max(width / acceleration - num_low, 0) / max(width - num_low, 1)
        return pattern | (rng.random(width) < prob)


class Equispaced1DMaskFunc(MaskFunc):
    """Equispaced lines: centre plus one line every ``s`` (fractional) from a random phase.

    fastMRI's ``EquispacedMaskFractionFunc`` spacing ``s = R (W - n_c) / (W - n_c R)``, drawn
    by :func:`lattice_fill`, which tunes ``s`` so the total is ``round(W / R)`` lines (fastMRI's
    integer offset and rounded positions can miss it by a line or two).

    Args:
        accelerations: Nominal accelerations to choose from (one per call).
        center_fractions: Fraction of the centre lines fully sampled, one per acceleration.
        partial_fourier: See :class:`~atommic_rec.masks.MaskFunc`.
    """

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[W]``."""
        width = shape[-1]
        return lattice_fill(_center_lines(width, center_fraction), np.arange(width),
                            acceleration, rng.random())


class Gaussian1DMaskFunc(MaskFunc):
    """Lines drawn without replacement with a Gaussian density around the k-space centre.

    Args:
        accelerations: See :class:`MaskFunc`.
        center_fractions: See :class:`MaskFunc`.
        std: Standard deviation of the density as a fraction of ``W``.
        partial_fourier: See :class:`MaskFunc`.
    """

    def __init__(self, accelerations: Sequence[float], center_fractions: Sequence[float],
                 *, std: float = 0.25, partial_fourier: float = 0.0) -> None:
        super().__init__(accelerations, center_fractions, partial_fourier=partial_fourier)
        if std <= 0:
            raise ValueError(f"Gaussian1DMaskFunc: expected std > 0; found {std}")
        self.std = float(std)

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[W]`` with ``~W/R`` lines."""
        width = shape[-1]
        pattern = _center_lines(width, center_fraction)
        return gaussian_fill(pattern, acceleration, self.std, rng)


def gaussian_fill(pattern: np.ndarray, acceleration: float, std: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Add points to ``pattern`` (any ndim) by Gaussian-weighted sampling without replacement.

    The total number of sampled points becomes ``round(pattern.size / acceleration)`` (or
    stays as is when the centre alone exceeds it).
    """
    axes = [np.arange(n) - n // 2 for n in pattern.shape]
    grids = np.meshgrid(*axes, indexing="ij")
    dist2 = sum((g / (std * n)) ** 2 for g, n in zip(grids, pattern.shape, strict=True))
    weight = np.exp(-0.5 * dist2).ravel()
    free = np.flatnonzero(~pattern.ravel())
    extra = min(max(round(pattern.size / acceleration) - int(pattern.sum()), 0), free.size)
    if extra:
        p = weight[free] / weight[free].sum()
        pattern = pattern.copy()
        pattern.ravel()[rng.choice(free, size=extra, replace=False, p=p)] = True
    return pattern


def lattice_spacing(size: int, num_center: int, acceleration: float) -> float:
    """Spacing of a lattice that, added to ``num_center`` samples, gives ``size / R`` in all.

    The lattice also falls on the centre (``num_center / s`` of its points), hence
    ``s = R (size - n_c) / (size - n_c R)`` (fastMRI's adjusted acceleration).
    """
    return acceleration * (size - num_center) / (size - num_center * acceleration)


def lattice_fill(pattern: np.ndarray, coords: np.ndarray, acceleration: float,
                 phase: float) -> np.ndarray:
    """Add the lattice ``mod(coords - phase * s, s) < 1`` to ``pattern``: ``size / R`` in all.

    ``coords`` (broadcastable to ``pattern``) grows by 1 per pixel along the lattice
    direction, so one pixel in every ``s`` is hit: where ``floor((coords - phase * s) / s)``
    changes, for any real ``s >= 1``. ``s`` starts at :func:`lattice_spacing` and is tuned by
    bisection (the hit count falls as ``s`` grows) to the target total.

    Args:
        pattern: Bool array with the fully sampled centre.
        coords: Lattice coordinate of every pixel, e.g. ``arange(W)`` or ``x + shift * y``.
        acceleration: Nominal acceleration ``R``.
        phase: Offset as a fraction of ``s`` in ``[0, 1)`` (the random part of the draw).

    Returns:
        The new bool pattern (or ``pattern`` when its centre alone reaches the target).
    """
    num_center, target = int(pattern.sum()), round(pattern.size / acceleration)
    if num_center >= target:
        return pattern

    def draw(s: float) -> np.ndarray:
        return pattern | (np.mod(coords - phase * s, s) < 1)

    spacing = lattice_spacing(pattern.size, num_center, acceleration)
    best = draw(spacing)
    low, high = max(spacing / 1.25, 1.0), spacing * 1.25
    for _ in range(20):
        if int(best.sum()) == target:
            break
        mid = 0.5 * (low + high)
        candidate = draw(mid)
        if abs(int(candidate.sum()) - target) < abs(int(best.sum()) - target):
            best = candidate
        low, high = (mid, high) if candidate.sum() > target else (low, mid)
    return best
