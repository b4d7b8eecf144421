"""The ``MaskFunc`` base class: seeding, acceleration choice, partial Fourier, shapes.

A subclass overrides one method, :meth:`MaskFunc.sample_pattern`, which draws a boolean
sampling pattern ``[W]`` (lines along the last, phase-encoding, dim) or ``[H, W]`` (points)
with a given acceleration and fully sampled centre from an explicit ``numpy`` generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["MaskFunc", "center_slice", "make_rng", "seed_from_fname"]

Seed = int | str | Sequence[int] | None


def seed_from_fname(fname: str) -> tuple[int, ...]:
    """Seed derived from a file name (fastMRI convention: the character codes).

    Args:
        fname: File name, e.g. ``"file1000.h5"`` (pass the base name so the seed does not depend
            on where the data live).

    Returns:
        A tuple of ints accepted by ``numpy.random.default_rng``.
    """
    return tuple(map(ord, fname))


def make_rng(seed: Seed = None, generator: np.random.Generator | None = None
             ) -> np.random.Generator:
    """A private numpy generator; the global RNGs of numpy, random and torch stay untouched.

    Args:
        seed: Int, sequence of ints, or a file name (hashed by :func:`seed_from_fname`);
            None draws fresh entropy.
        generator: An existing generator to use as is (takes precedence over ``seed``).

    Returns:
        ``numpy.random.Generator``.
    """
    if generator is not None:
        return generator
    if isinstance(seed, str):
        seed = seed_from_fname(seed)
    return np.random.default_rng(seed)


def center_slice(n: int, num_low: int) -> slice:
    """Indices of the ``num_low`` lowest frequencies of a centered axis of length ``n``.

    Args:
        n: Axis length (DC at index ``n // 2``).
        num_low: Number of central indices.

    Returns:
        ``slice(n // 2 - num_low // 2, ... + num_low)``.
    """
    start = n // 2 - num_low // 2  # DC sits at n // 2
    return slice(start, start + num_low)


class MaskFunc:
    """Base class of undersampling masks; subclasses override :meth:`sample_pattern`.

    Args:
        accelerations: Nominal accelerations to choose from (one per call, uniformly).
        center_fractions: Fraction of the centre that is fully sampled, one per acceleration
            (or a single value used for all).
        partial_fourier: Fraction (0 <= f < 0.5) of the last dim removed from its low-index
            end after sampling (partial Fourier acquisition); the centre is never removed.

    Example:
        >>> mask_func = Random1DMaskFunc([4, 8], [0.08, 0.04])
        >>> mask, acceleration = mask_func((8, 320, 320), seed="file1.h5")
        >>> mask.shape, mask.dtype
        (torch.Size([1, 1, 320]), torch.float32)
    """

    def __init__(self, accelerations: Sequence[float], center_fractions: Sequence[float],
                 *, partial_fourier: float = 0.0) -> None:
        accelerations = [float(a) for a in _as_list(accelerations)]
        center_fractions = [float(c) for c in _as_list(center_fractions)]
        if len(center_fractions) == 1:
            center_fractions = center_fractions * len(accelerations)
        if not accelerations or len(center_fractions) != len(accelerations):
            raise ValueError(
                f"{type(self).__name__}: expected one center_fraction per acceleration; found "
                f"accelerations={accelerations}, center_fractions={center_fractions}")
        if any(a < 1 for a in accelerations) or any(not 0 <= c < 1 for c in center_fractions):
            raise ValueError(f"{type(self).__name__}: expected accelerations >= 1 and 0 <= "
                             f"center_fractions < 1; found {accelerations}, {center_fractions}")
        if not 0 <= partial_fourier < 0.5:
            raise ValueError(f"{type(self).__name__}: expected 0 <= partial_fourier < 0.5; "
                             f"found {partial_fourier}")
        self.accelerations = accelerations
        self.center_fractions = center_fractions
        self.partial_fourier = float(partial_fourier)

    def __call__(self, shape: Sequence[int], *, seed: Seed = None,
                 generator: np.random.Generator | None = None) -> tuple[torch.Tensor, float]:
        """Draw a mask for k-space of ``shape``.

        Args:
            shape: k-space shape ``[..., H, W]`` (at least 2 dims).
            seed: Int, int sequence or file name; same seed -> same mask.
            generator: A numpy generator to draw from instead of ``seed``.

        Returns:
            ``(mask, acceleration)``: float32 0/1 mask with ``len(shape)`` dims broadcastable to
            ``shape`` (``[1, .., 1, W]`` for line masks, ``[1, .., H, W]`` for point masks) and
            the achieved acceleration (all locations / sampled locations).
        """
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2 or min(shape[-2:]) < 1:
            raise ValueError(f"{type(self).__name__}: expected k-space shape [..., H, W]; "
                             f"found {shape}")
        rng = make_rng(seed, generator)
        choice = int(rng.integers(len(self.accelerations)))
        acceleration, center_fraction = self.accelerations[choice], self.center_fractions[choice]
        pattern = np.asarray(self.sample_pattern(shape[-2:], acceleration, center_fraction, rng),
                             dtype=bool)
        pattern = self._apply_partial_fourier(pattern, center_fraction)
        achieved = pattern.size / max(int(pattern.sum()), 1)
        mask = torch.from_numpy(pattern.astype(np.float32))
        return mask.reshape((1,) * (len(shape) - pattern.ndim) + pattern.shape), float(achieved)

    def sample_pattern(self, shape: tuple[int, int], acceleration: float,
                       center_fraction: float, rng: np.random.Generator) -> np.ndarray:
        """Draw the sampling pattern; the one method subclasses override.

        Args:
            shape: ``(H, W)`` of k-space.
            acceleration: Nominal acceleration for this draw.
            center_fraction: Fraction of the centre to sample fully.
            rng: The generator to draw from (never the global RNG).

        Returns:
            Bool array ``[W]`` (line mask) or ``[H, W]`` (point mask), centre fully sampled.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement sample_pattern()")

    def _apply_partial_fourier(self, pattern: np.ndarray, center_fraction: float) -> np.ndarray:
        width = pattern.shape[-1]
        removed = round(self.partial_fourier * width)
        if removed == 0:
            return pattern
        if removed > center_slice(width, round(center_fraction * width)).start:
            raise ValueError(f"{type(self).__name__}: partial_fourier={self.partial_fourier} "
                             f"would remove the fully sampled centre; expected a smaller value")
        pattern = pattern.copy()
        pattern[..., :removed] = False
        return pattern

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(accelerations={self.accelerations}, "
                f"center_fractions={self.center_fractions}, "
                f"partial_fourier={self.partial_fourier})")


def _as_list(value: float | Sequence[float]) -> list:
    return list(value) if isinstance(value, Sequence | np.ndarray) and \
        not isinstance(value, str) else [value]
