"""Seeded k-space undersampling masks: 1D lines and 2D points, plus partial Fourier.

Build one from YAML with :func:`create_mask_func`::

    mask_func = create_mask_func({"type": "random1d", "accelerations": [4, 8],
                                  "center_fractions": [0.08, 0.04]})
    mask, acceleration = mask_func(kspace.shape, seed=fname)  # deterministic per file
"""

from atommic_rec.masks.base import MaskFunc, center_slice, make_rng, seed_from_fname
from atommic_rec.masks.cartesian1d import (
    Equispaced1DMaskFunc,
    Gaussian1DMaskFunc,
    Random1DMaskFunc,
)
from atommic_rec.masks.cartesian2d import (
    Equispaced2DMaskFunc,
    Gaussian2DMaskFunc,
    Poisson2DMaskFunc,
)
from atommic_rec.masks.registry import MASK_FUNCS, create_mask_func, register_mask_func

__all__ = [
    "MASK_FUNCS",
    "Equispaced1DMaskFunc",
    "Equispaced2DMaskFunc",
    "Gaussian1DMaskFunc",
    "Gaussian2DMaskFunc",
    "MaskFunc",
    "Poisson2DMaskFunc",
    "Random1DMaskFunc",
    "center_slice",
    "create_mask_func",
    "make_rng",
    "register_mask_func",
    "seed_from_fname",
]
