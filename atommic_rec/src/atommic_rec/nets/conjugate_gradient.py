"""Conjugate-gradient solver for the regularised SENSE normal equations, differentiated through.

Model-based unrolled networks (MoDL, Aggarwal et al., IEEE TMI 2019, arXiv:1712.02862; the
proximal-gradient and down-up networks' variable-splitting steps) need
``x = argmin_x ||A x - y||^2 + mu ||x - z||^2``, i.e. the linear system
``(A^H A + mu I) x = A^H y + mu z`` with ``A = M F S``. It is Hermitian positive definite for
``mu > 0``, so a fixed number of CG iterations solves it; autograd differentiates through the
iterations (to ``mu``, ``z`` and everything upstream), as in MoDL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.physics import adjoint_operator, forward_operator

__all__ = ["conjugate_gradient", "sense_normal_operator", "solve_regularised_sense"]


def _batch_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Real part of ``<a, b>`` per batch element, shaped ``[B, 1, ..., 1]`` to broadcast."""
    dims = tuple(range(1, a.ndim))
    return (a.conj() * b).real.sum(dim=dims, keepdim=True)


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den``, 0 where ``den`` is 0 (a converged or all-zero system stays put)."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den),
                                                                      den))


def conjugate_gradient(normal_op: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor,
                       iterations: int, x0: torch.Tensor | None = None) -> torch.Tensor:
    """Solve ``N x = rhs`` for Hermitian positive-definite ``N`` with ``iterations`` CG steps.

    Each batch element is its own system (inner products over all non-batch dims); an element
    whose residual reaches exactly 0 stops moving instead of dividing by zero.

    Args:
        normal_op: ``x -> N x`` (same shape and dtype in and out).
        rhs: Right-hand side, complex [B, ...].
        iterations: Number of CG steps (>= 0; 0 returns the start).
        x0: Starting point (default zeros).

    Returns:
        The approximate solution, same shape and dtype as ``rhs``.

    Example:
        >>> diag = torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.complex64)
        >>> x = conjugate_gradient(lambda v: diag * v, torch.ones_like(diag), 3)
        >>> torch.allclose(x, 1 / diag)
        True
    """
    if iterations < 0:
        raise ValueError(f"conjugate_gradient: expected iterations >= 0, found {iterations}")
    x = torch.zeros_like(rhs) if x0 is None else x0
    r = rhs - normal_op(x) if x0 is not None else rhs
    p = r
    rs_old = _batch_dot(r, r)
    for _ in range(iterations):
        ap = normal_op(p)
        alpha = _safe_ratio(rs_old, _batch_dot(p, ap))
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = _batch_dot(r, r)
        p = r + _safe_ratio(rs_new, rs_old) * p
        rs_old = rs_new
    return x


def sense_normal_operator(image: torch.Tensor, sensitivity_maps: torch.Tensor,
                          mask: torch.Tensor, mu: torch.Tensor | float,
                          **fft_kw: Any) -> torch.Tensor:
    """``(A^H A + mu I) x`` with ``A = M F S`` (the undersampled multi-coil SENSE operator).

    Args:
        image: ``x``, complex64 [B, H, W].
        sensitivity_maps: ``S``, complex64 [B, C, H, W].
        mask: ``M`` (0/1), float, broadcastable to [B, C, H, W].
        mu: Regularisation weight (scalar or float tensor [1]).
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims`` of the FFT.

    Returns:
        Complex64 [B, H, W].
    """
    kspace = forward_operator(image, sensitivity_maps, mask, **fft_kw)
    return adjoint_operator(kspace, sensitivity_maps, mask, **fft_kw) + mu * image


def solve_regularised_sense(masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                            mask: torch.Tensor, mu: torch.Tensor | float, prior: torch.Tensor,
                            iterations: int, **fft_kw: Any) -> torch.Tensor:
    """``argmin_x ||A x - y||^2 + mu ||x - z||^2`` by CG from ``z`` (MoDL's data consistency).

    Solves ``(A^H A + mu I) x = A^H y + mu z``; ``mu > 0`` is the caller's to keep.

    Args:
        masked_kspace: ``y``, complex64 [B, C, H, W].
        sensitivity_maps: ``S``, complex64 [B, C, H, W].
        mask: ``M``, float, broadcastable to [B, C, H, W].
        mu: Regularisation weight (> 0).
        prior: ``z`` (e.g. the denoiser's output), complex64 [B, H, W]; also the CG start.
        iterations: CG steps.
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims`` of the FFT.

    Returns:
        The solution, complex64 [B, H, W].
    """
    prior = at_least_complex64(prior)
    rhs = adjoint_operator(masked_kspace, sensitivity_maps, mask, **fft_kw) + mu * prior
    return conjugate_gradient(
        lambda v: sense_normal_operator(v, sensitivity_maps, mask, mu, **fft_kw), rhs,
        iterations, x0=prior)
