"""Seeded augmentations for image + label pairs: flips, rotations, elastic, intensity.

Configured from YAML (the ``augmentations`` key of ``train_ds``; validation and test never
augment)::

    augmentations:
      flip: {prob: 0.5, axes: [-1]}          # spatial axes, counted from the end
      rotate: {prob: 0.3, max_degrees: 10}   # in-plane (last two axes)
      elastic: {prob: 0.2, alpha: 4.0, sigma: 3.0}   # in-plane, alpha in voxels
      intensity: {prob: 0.5, scale: 0.1, shift: 0.05, gamma: 0.2, noise_std: 0.02}

Every transform draws from the ``numpy.random.Generator`` it is given, so the same seed gives
the same result; the global RNG is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["KNOWN_AUGMENTATIONS", "Augmenter"]

KNOWN_AUGMENTATIONS = ("flip", "rotate", "elastic", "intensity")


def _apply_spatial(image: np.ndarray, label: np.ndarray | None, label_has_channels: bool,
                   fn) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply ``fn(array2d_or_3d, order)`` to every image channel and label (channel)."""
    image = np.stack([fn(ch, 1) for ch in image])
    if label is not None:
        if label_has_channels:
            label = np.stack([fn(ch, 0) for ch in label])
        else:
            label = fn(label, 0)
    return image, label


class Augmenter:
    """Apply the configured augmentations to one item.

    Args:
        cfg: Mapping ``name -> params`` with names from :data:`KNOWN_AUGMENTATIONS`; a
            missing name is off.
        complex_data: Image channels are (real, imaginary) pairs; gamma is then skipped (it
            only makes sense for magnitudes).

    Call:
        ``augmenter(image, label, rng, label_has_channels)`` with image ``[C, *S]`` float32
        and label ``[*S]`` (int) or ``[C', *S]``; returns the augmented pair (same shapes).
    """

    def __init__(self, cfg: Mapping[str, Any] | None, complex_data: bool = False) -> None:
        cfg = dict(cfg or {})
        cfg.pop("enabled", None)
        unknown = sorted(set(cfg) - set(KNOWN_AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentations {unknown}; expected some of "
                             f"{list(KNOWN_AUGMENTATIONS)}")
        self.cfg = {k: dict(v or {}) for k, v in cfg.items()}
        self.complex_data = complex_data

    def __bool__(self) -> bool:
        return bool(self.cfg)

    def _on(self, name: str, rng: np.random.Generator) -> bool:
        return name in self.cfg and rng.random() < float(self.cfg[name].get("prob", 0.5))

    def __call__(self, image: np.ndarray, label: np.ndarray | None, rng: np.random.Generator,
                 label_has_channels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Augment one image/label pair."""
        if self._on("flip", rng):
            for axis in self.cfg["flip"].get("axes", [-1]):
                if rng.random() < 0.5:
                    image = np.flip(image, axis).copy()
                    if label is not None:
                        label = np.flip(label, axis).copy()
        if self._on("rotate", rng):
            max_deg = float(self.cfg["rotate"].get("max_degrees", 10.0))
            angle = rng.uniform(-max_deg, max_deg)
            image, label = _apply_spatial(image, label, label_has_channels, lambda a, order:
                                          ndimage.rotate(a, angle, axes=(-2, -1), reshape=False,
                                                         order=order, mode="nearest"))
        if self._on("elastic", rng):
            image, label = self._elastic(image, label, rng, label_has_channels)
        if self._on("intensity", rng):
            image = self._intensity(image, rng)
        return np.ascontiguousarray(image, dtype=np.float32), label

    def _elastic(self, image: np.ndarray, label: np.ndarray | None, rng: np.random.Generator,
                 label_has_channels: bool) -> tuple[np.ndarray, np.ndarray | None]:
        p = self.cfg["elastic"]
        alpha, sigma = float(p.get("alpha", 4.0)), float(p.get("sigma", 3.0))
        shape = image.shape[1:]
        plane = shape[-2:]
        shifts = [ndimage.gaussian_filter(rng.uniform(-1, 1, plane), sigma) for _ in range(2)]
        scale = alpha / max(max(np.abs(s).max() for s in shifts), 1e-8)
        grid = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
        coords = list(grid)
        coords[-2] = grid[-2] + shifts[0] * scale
        coords[-1] = grid[-1] + shifts[1] * scale
        return _apply_spatial(image, label, label_has_channels, lambda a, order:
                              ndimage.map_coordinates(a, coords, order=order, mode="nearest"))

    def _intensity(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.cfg["intensity"]
        gamma = float(p.get("gamma", 0.0))
        if gamma > 0 and not self.complex_data:
            g = float(np.exp(rng.uniform(-gamma, gamma)))
            image = np.sign(image) * np.abs(image) ** g
        image = image * (1 + rng.uniform(-1, 1) * float(p.get("scale", 0.0)))
        image = image + rng.uniform(-1, 1) * float(p.get("shift", 0.0))
        noise = float(p.get("noise_std", 0.0))
        if noise > 0:
            image = image + rng.normal(0.0, noise, image.shape)
        return image
