"""Shared FFT keyword handling for transforms (config names -> physics keywords)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FFTOptions"]


class FFTOptions:
    """Holds ``fft_centered``, ``fft_normalization`` and ``spatial_dims`` for a transform."""

    def __init__(self, fft_centered: bool, fft_normalization: str,
                 spatial_dims: Sequence[int]) -> None:
        self.fft_centered = bool(fft_centered)
        self.fft_normalization = str(fft_normalization)
        self.spatial_dims = tuple(int(d) for d in spatial_dims)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`atommic_rec.physics.fft2` / ``ifft2``."""
        return {"centered": self.fft_centered, "normalization": self.fft_normalization,
                "spatial_dims": self.spatial_dims}
