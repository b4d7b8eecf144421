"""Point (2D Cartesian) masks on the ``H x W`` phase-encoding plane, e.g. for 3D acquisitions."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from atommic_rec.masks.base import MaskFunc, center_slice
from atommic_rec.masks.cartesian1d import gaussian_fill, lattice_fill, lattice_spacing

__all__ = ["Equispaced2DMaskFunc", "Gaussian2DMaskFunc", "Poisson2DMaskFunc", "calibrated_radius"]


def _center_box(shape: tuple[int, int], center_fraction: float) -> np.ndarray:
    h, w = shape
    pattern = np.zeros((h, w), dtype=bool)
    pattern[center_slice(h, round(h * center_fraction)),
            center_slice(w, round(w * center_fraction))] = True
    return pattern


class Equispaced2DMaskFunc(MaskFunc):
    """A sheared (CAIPIRINHA-like) lattice: one point in every ``s`` columns of each row.

    Row ``y`` samples the columns where ``floor((x + shift * y - offset) / s)`` changes
    (:func:`~atommic_rec.masks.cartesian1d.lattice_fill`), so ``s`` may be fractional and
    every row holds ``W / s`` (+-1) evenly spaced points; ``shift ~ sqrt(s)`` spreads them
    evenly in 2D. ``s`` is tuned so the total, central box included, is ``round(H * W / R)``:
    the nominal acceleration, not that of a rounded spacing.

    Args:
        accelerations: Nominal accelerations to choose from (one per call).
        center_fractions: Side of the fully sampled central box as a fraction of (H, W).
        partial_fourier: See :class:`~atommic_rec.masks.MaskFunc`.
    """

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[H, W]``."""
        center = _center_box(shape, center_fraction)
        if center.sum() * acceleration >= center.size:
            return center
        spacing = lattice_spacing(center.size, int(center.sum()), acceleration)
        y, x = np.ogrid[: shape[0], : shape[1]]
        shift = max(round(math.sqrt(spacing)), 1)
        return lattice_fill(center, x + shift * y, acceleration, rng.random())


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
    (``d`` = 0 at DC, 1 at the edge), so density falls off outwards. Dart throwing visits
    every grid location once, in an order drawn from the caller's generator (its only draw).
    ``r0`` starts from :func:`calibrated_radius`, a pure function of ``(shape, acceleration,
    center_fraction, slope)``, and is rescaled on that order (at most 4 throws) until
    ``H*W/R`` points are sampled to within 2%: a mask depends only on its seed, never on what
    was drawn before (by this or any other instance).

    Args:
        accelerations: See :class:`MaskFunc`.
        center_fractions: Side of the fully sampled central box as a fraction of (H, W).
        slope: How fast the radius grows towards the edge (0 = uniform density).
        partial_fourier: See :class:`MaskFunc`.
    """

    def __init__(self, accelerations: Sequence[float], center_fractions: Sequence[float],
                 *, slope: float = 1.0, partial_fourier: float = 0.0) -> None:
        super().__init__(accelerations, center_fractions, partial_fourier=partial_fourier)
        if slope < 0:
            raise ValueError(f"Poisson2DMaskFunc: expected slope >= 0; found {slope}")
        self.slope = float(slope)

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """See :meth:`MaskFunc.sample_pattern`; returns bool ``[H, W]``."""
        shape = (int(shape[0]), int(shape[1]))
        center = _center_box(shape, center_fraction)
        target = round(center.size / acceleration)
        if center.sum() >= target:
            return center
        r0 = calibrated_radius(shape, float(acceleration), float(center_fraction), self.slope)
        order = rng.permutation(center.size)  # the only draw: the mask depends on the seed only
        return _throw_to_count(center, _radius_profile(shape, self.slope), order, r0, target,
                               tolerance=0.02, steps=4)[0]


_CALIBRATION_SEED = 0x5EED  # fixed: calibration must not depend on any caller's generator


@functools.lru_cache(maxsize=128)
def calibrated_radius(shape: tuple[int, int], acceleration: float, center_fraction: float,
                      slope: float) -> float:
    """Base radius ``r0`` for which Poisson-disc dart throwing samples ``~H*W/R`` points.

    Calibrated (count ~ 1 / r0^2, to within 1%) on a visiting order from a fixed private
    generator, so the result depends only on the arguments; it is cached per process. Other
    visiting orders give counts within a few percent of the target.

    Args:
        shape: ``(H, W)``.
        acceleration: Nominal acceleration ``R``.
        center_fraction: Side of the fully sampled central box as a fraction of (H, W).
        slope: Radius growth towards the edge.

    Returns:
        ``r0`` in pixels.
    """
    center = _center_box(shape, center_fraction)
    profile = _radius_profile(shape, slope)
    order = np.random.default_rng(_CALIBRATION_SEED).permutation(center.size)
    target = round(center.size / acceleration)
    guess = math.sqrt(0.7 * (profile**-2).sum() / target)
    return _throw_to_count(center, profile, order, guess, target, tolerance=0.01, steps=10)[1]


def _throw_to_count(center: np.ndarray, profile: np.ndarray, order: np.ndarray, r0: float,
                    target: int, *, tolerance: float, steps: int) -> tuple[np.ndarray, float]:
    """Dart-throw in ``order``, rescaling ``r0`` (count ~ 1 / r0^2) towards ``target`` points.

    Returns the pattern of the first throw within ``tolerance`` (or of the last one) and the
    ``r0`` that made it.
    """
    for step in range(steps):
        pattern = _dart_throw(center, r0 * profile, order)
        count = int(pattern.sum())
        if abs(count - target) <= tolerance * target or step == steps - 1:
            break
        r0 *= math.sqrt(count / target)
    return pattern, r0


def _radius_profile(shape: tuple[int, int], slope: float) -> np.ndarray:
    y = (np.arange(shape[0]) - shape[0] // 2) / (shape[0] / 2)
    x = (np.arange(shape[1]) - shape[1] // 2) / (shape[1] / 2)
    dist = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2) / math.sqrt(2)
    return 1 + slope * dist


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
