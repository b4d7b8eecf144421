"""Intensity normalisation by one positive factor, kept in the sample to un-normalise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from atommic_rec.physics import ifft2, rss_complex
from atommic_rec.transforms.compose import register_transform

__all__ = ["METHODS", "Normalize", "normalization_factor"]

METHODS = ("max", "minmax", "mean_std", "none")
SCALED_KEYS = ("kspace", "masked_kspace", "initial_image", "target")


def normalization_factor(image: torch.Tensor, method: str) -> float:
    """The factor the data are divided by.

    k-space is complex and the physics is linear, so every method is a division by one
    positive number computed from the magnitude of the zero-filled image: ``max`` -> max,
    ``minmax`` -> max - min, ``mean_std`` -> standard deviation, ``none`` -> 1.

    Args:
        image: Zero-filled image (complex or real), any shape.
        method: One of :data:`METHODS`.

    Returns:
        The positive factor (1.0 if the image is empty).
    """
    if method not in METHODS:
        raise ValueError(f"normalize: expected method in {METHODS}; found {method!r}")
    magnitude = image.abs() if image.is_complex() else image
    factor = {"max": lambda m: m.max(), "minmax": lambda m: m.max() - m.min(),
              "mean_std": lambda m: m.std(), "none": lambda m: torch.tensor(1.0)}[method]
    value = float(factor(magnitude.float()))
    return value if value > 0 else 1.0


class Normalize:
    """Divide ``kspace``, ``masked_kspace``, ``initial_image`` and ``target`` by one factor.

    YAML ``{name: normalize, method: max}``. The factor comes from ``initial_image`` (or the
    zero-filled RSS of ``masked_kspace``), i.e. only from acquired data, and is stored as
    ``scale``: multiply outputs and targets by ``scale`` to get back to file units. When
    ``target`` is scaled, so is ``max_value``, which stays in the units of ``target``.

    Args:
        method: ``"max"``, ``"minmax"``, ``"mean_std"`` or ``"none"``.
        keys: Sample keys to scale (those present); the default chain leaves out ``kspace``
            when it is dropped at the end anyway.
        fft_centered: FFT convention (used only without ``initial_image``).
        fft_normalization: FFT normalisation (idem).
    """

    def __init__(self, method: str = "max", *, keys: Sequence[str] = SCALED_KEYS,
                 fft_centered: bool = True, fft_normalization: str = "ortho") -> None:
        if method not in METHODS:
            raise ValueError(f"normalize: expected method in {METHODS}; found {method!r}")
        self.method = method
        self.keys = tuple(keys)
        self.fft_kw = {"centered": bool(fft_centered), "normalization": fft_normalization}

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Scale the data (and ``max_value``); multiply the sample's ``scale`` by the factor."""
        sample = dict(sample)
        reference = sample.get("initial_image")
        if reference is None:
            reference = rss_complex(ifft2(sample["masked_kspace"], **self.fft_kw), dim=-3)
        factor = normalization_factor(reference, self.method)
        for key in self.keys:
            if sample.get(key) is not None:
                sample[key] = sample[key] / factor
        if "target" in self.keys and sample.get("max_value") is not None:
            sample["max_value"] = float(sample["max_value"]) / factor
        sample["scale"] = float(sample.get("scale", 1.0)) * factor
        return sample

    def __repr__(self) -> str:
        return f"Normalize(method={self.method!r})"


register_transform("normalize", Normalize)
