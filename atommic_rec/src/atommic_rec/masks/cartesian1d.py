"""Line (1D Cartesian) masks along the last, phase-encoding dim: random, equispaced, Gaussian."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from atommic_rec.masks.base import MaskFunc, center_slice

__all__ = ["Equispaced1DMaskFunc", "Gaussian1DMaskFunc", "Random1DMaskFunc"]


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
    """fastMRI equispaced lines: centre plus every ``r``-th line from a random offset.

    The spacing ``r`` is adjusted for the centre lines so the total matches ``W / R``.

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
        if num_low * acceleration >= width:  # the centre alone reaches the target
            return pattern
        spacing = acceleration * (width - num_low) / (width - num_low * acceleration)
        offset = int(rng.integers(0, max(round(spacing), 1)))
        lines = np.around(np.arange(offset, width - 1, spacing)).astype(int)
        pattern[lines[lines < width]] = True
        return pattern


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
