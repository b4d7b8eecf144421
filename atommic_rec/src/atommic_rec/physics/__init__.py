"""MRI physics on native complex64 tensors: FFTs, coil combination, SENSE operators, maps.

Every function is pure; FFT options are keyword-only (``centered``, ``normalization``,
``spatial_dims``). k-space and sensitivity maps are ``[batch, coils, H, W]``.
"""

from atommic_rec.physics.coils import rss, rss_complex, sense_expand, sense_reduce
from atommic_rec.physics.complex import channels_to_complex, complex_to_channels
from atommic_rec.physics.fft import NORMALIZATIONS, fft2, ifft2
from atommic_rec.physics.operators import adjoint_operator, apply_mask, forward_operator
from atommic_rec.physics.sensitivity import espirit, estimate_sensitivity_maps_lowres

__all__ = [
    "NORMALIZATIONS",
    "adjoint_operator",
    "apply_mask",
    "channels_to_complex",
    "complex_to_channels",
    "espirit",
    "estimate_sensitivity_maps_lowres",
    "fft2",
    "forward_operator",
    "ifft2",
    "rss",
    "rss_complex",
    "sense_expand",
    "sense_reduce",
]
