"""Forward and adjoint operators from parameter maps to multi-echo, multi-coil k-space.

The measurement model is ``y_e = M F S x_e`` per echo ``e`` (REC's SENSE operator
:func:`atommic_rec.physics.forward_operator`, echoes as an extra batch dim) with echo images
``x_e = S(maps, TE_e)`` from a :class:`~atommic_qi.physics.signal.SignalModel`. k-space is
``[B, E, C, H, W]``, coil maps ``[B, C, H, W]`` (the same for every echo), masks broadcastable
to k-space (e.g. ``[B, 1, 1, 1, W]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from atommic_qi.physics.signal import SignalModel, get_signal_model
from atommic_rec.physics import adjoint_operator, forward_operator

__all__ = ["echo_adjoint", "echo_forward", "jacobian_adjoint", "likelihood_gradient",
           "qmri_forward"]


def _echo_maps(sensitivity_maps: torch.Tensor) -> torch.Tensor:
    if sensitivity_maps.ndim != 4:
        raise ValueError(f"sensitivity_maps: expected complex64 [B, C, H, W] (shared by all "
                         f"echoes); found shape {tuple(sensitivity_maps.shape)}")
    return sensitivity_maps.unsqueeze(1)


def echo_forward(echo_images: torch.Tensor, sensitivity_maps: torch.Tensor,
                 mask: torch.Tensor | None, *, centered: bool = True,
                 normalization: str = "ortho", spatial_dims: Sequence[int] = (-2, -1)
                 ) -> torch.Tensor:
    """``M F S x_e`` for every echo: echo images to undersampled multi-coil k-space.

    Args:
        echo_images: Complex64 ``[B, E, H, W]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]``.
        mask: Float mask broadcastable to ``[B, E, C, H, W]`` or None.
        centered: FFT option (see :func:`atommic_rec.physics.fft2`).
        normalization: FFT option; ``"ortho"`` makes :func:`echo_adjoint` the exact adjoint.
        spatial_dims: FFT option.

    Returns:
        Complex64 k-space ``[B, E, C, H, W]``.
    """
    return forward_operator(echo_images, _echo_maps(sensitivity_maps), mask, centered=centered,
                            normalization=normalization, spatial_dims=spatial_dims)


def echo_adjoint(kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                 mask: torch.Tensor | None, *, centered: bool = True,
                 normalization: str = "ortho", spatial_dims: Sequence[int] = (-2, -1)
                 ) -> torch.Tensor:
    """``S^H F^-1 M y_e`` for every echo: k-space to SENSE-combined echo images.

    Args:
        kspace: Complex64 ``[B, E, C, H, W]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]``.
        mask: Float mask broadcastable to ``kspace`` or None.
        centered: FFT option.
        normalization: FFT option.
        spatial_dims: FFT option.

    Returns:
        Complex64 echo images ``[B, E, H, W]``.
    """
    return adjoint_operator(kspace, _echo_maps(sensitivity_maps), mask, centered=centered,
                            normalization=normalization, spatial_dims=spatial_dims)


def qmri_forward(maps: torch.Tensor, tes_ms: torch.Tensor | list[float],
                 sensitivity_maps: torch.Tensor, mask: torch.Tensor | None, *,
                 signal_model: str | SignalModel = "gre", **fft_kw: Any) -> torch.Tensor:
    """The full forward model: parameter maps to undersampled multi-echo multi-coil k-space.

    Args:
        maps: Real maps ``[B, 4, H, W]`` (R2*, S0, B0, phi) in the signal model's units.
        tes_ms: Echo times in ms, ``[E]`` or ``[B, E]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]``.
        mask: Float mask broadcastable to ``[B, E, C, H, W]`` or None.
        signal_model: Name or :class:`SignalModel`.
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims``.

    Returns:
        Complex64 k-space ``[B, E, C, H, W]``.
    """
    echoes = get_signal_model(signal_model).signal(maps, tes_ms)
    return echo_forward(echoes, sensitivity_maps, mask, **fft_kw)


def jacobian_adjoint(echo_residual: torch.Tensor, maps: torch.Tensor,
                     tes_ms: torch.Tensor | list[float],
                     signal_model: str | SignalModel = "gre") -> torch.Tensor:
    """``J^T r``: the adjoint of the signal model's Jacobian (real maps, complex echoes).

    For real maps ``m_k`` and the real inner product ``Re <a, b>`` on echo images,
    ``(J^T r)_k = Re(sum_e conj(dS_e/dm_k) r_e)`` per pixel.

    Args:
        echo_residual: Complex ``[B, E, H, W]``.
        maps: Real maps ``[B, 4, H, W]`` at which the Jacobian is taken.
        tes_ms: Echo times in ms, ``[E]`` or ``[B, E]``.
        signal_model: Name or :class:`SignalModel`.

    Returns:
        Real ``[B, 4, H, W]``.
    """
    jac = get_signal_model(signal_model).jacobian(maps, tes_ms)
    return (jac.conj() * echo_residual.unsqueeze(1)).real.sum(2)


def likelihood_gradient(maps: torch.Tensor, tes_ms: torch.Tensor | list[float],
                        masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                        mask: torch.Tensor | None, sigma: float = 1.0, *,
                        signal_model: str | SignalModel = "gre", **fft_kw: Any) -> torch.Tensor:
    """Gradient of ``||A(maps) - y||^2 / (2 sigma^2)`` with respect to each map.

    ``A`` is :func:`qmri_forward`; with ``r_e = S^H F^-1 M (A(maps)_e - y_e)`` the gradient is
    ``J^T r / sigma^2`` (:func:`jacobian_adjoint`), exact for the ``ortho`` FFT. It drives the
    qRIM (Zhang et al., NeuroImage 264 (2022) 119680) with the true gradient of the Gaussian
    data term for every map (ATOMMIC's analytical version leaves out the B0/phi terms).

    Args:
        maps: Real maps ``[B, 4, H, W]``.
        tes_ms: Echo times in ms, ``[E]`` or ``[B, E]``.
        masked_kspace: Measured complex64 ``[B, E, C, H, W]``.
        sensitivity_maps: Complex64 ``[B, C, H, W]``.
        mask: Float mask broadcastable to ``masked_kspace`` or None.
        sigma: Noise standard deviation (> 0) in k-space units.
        signal_model: Name or :class:`SignalModel`.
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims``.

    Returns:
        Real ``[B, 4, H, W]``, in (data units)^2 per map unit.
    """
    if not float(sigma) > 0:
        raise ValueError(f"likelihood_gradient: expected sigma > 0; found {sigma}")
    model = get_signal_model(signal_model)
    echoes = model.signal(maps, tes_ms)
    residual = echo_forward(echoes, sensitivity_maps, mask, **fft_kw) - masked_kspace
    image_residual = echo_adjoint(residual, sensitivity_maps, mask, **fft_kw)
    return jacobian_adjoint(image_residual, maps, tes_ms, model) / float(sigma) ** 2
