"""Coil compression (SVD and GDCC) and noise pre-whitening: linear maps over the coil axis.

Each function works on one slice of complex k-space ``[C, H, W]`` (coils at -3, the readout
fully sampled along H, phase encoding along W, as the fastMRI layout and its column masks):

* :func:`svd_compression_matrix`: one ``[N, C]`` projection onto the ``N`` strongest
  singular vectors of the calibration data (Huang et al., "A software channel compression
  technique for faster reconstruction with many channels", MRI 26:133-141, 2008).
* :func:`gdcc_compression_matrices`: geometric decomposition coil compression (Zhang et al.,
  "Coil compression for accelerated imaging with Cartesian sampling", MRM 69:571-582, 2013):
  one SVD per readout position of the hybrid ``(x, k_y)`` calibration data, aligned from the
  centre outward by Procrustes rotations so that the virtual coils vary smoothly along x.
* :func:`noise_whitening_matrix`: ``L^-1`` with ``L L^H`` the noise covariance of a noise scan
  (Pruessmann et al., "Advances in sensitivity encoding with arbitrary k-space trajectories",
  MRM 46:638-651, 2001), so that whitened noise has identity covariance.
"""

from __future__ import annotations

import torch

from atommic_rec.physics._checks import check_complex
from atommic_rec.physics.fft import fft2, ifft2

__all__ = ["apply_coil_matrix", "apply_gdcc", "gdcc_compression_matrices",
           "mix_coils_per_row", "noise_whitening_matrix", "svd_compression_matrix"]


def _check_slice(kspace: torch.Tensor) -> None:
    check_complex(kspace, "coil compression kspace")
    if kspace.ndim != 3:
        raise ValueError("coil compression kspace: expected one slice [C, H, W]; found shape "
                         f"{tuple(kspace.shape)}")


def _calibration_columns(kspace: torch.Tensor, calib_lines: int | None) -> torch.Tensor:
    """The central ``calib_lines`` phase-encoding columns ``[C, H, calib]`` (None: all)."""
    w = kspace.shape[-1]
    if calib_lines is None or calib_lines >= w:
        return kspace
    if calib_lines < 1:
        raise ValueError(f"coil compression: expected calib_lines >= 1; found {calib_lines}")
    start = w // 2 - calib_lines // 2
    return kspace[..., start:start + calib_lines]


def _check_virtual(coils: int, num_virtual_coils: int) -> None:
    if not 1 <= num_virtual_coils <= coils:
        raise ValueError(f"coil compression: expected 1 <= num_virtual_coils <= {coils} (the "
                         f"coils of the data); found {num_virtual_coils}")


def svd_compression_matrix(kspace: torch.Tensor, num_virtual_coils: int,
                           calib_lines: int | None = None) -> torch.Tensor:
    """SVD coil compression: the ``[N, C]`` matrix ``U[:, :N]^H`` of the calibration data.

    Args:
        kspace: Complex k-space ``[C, H, W]`` of one slice.
        num_virtual_coils: ``N``, the number of virtual coils kept.
        calib_lines: Central phase-encoding columns used (None: the whole k-space).

    Returns:
        Complex matrix ``[N, C]`` with orthonormal rows; ``N = C`` gives a unitary matrix.
    """
    _check_slice(kspace)
    coils = kspace.shape[0]
    _check_virtual(coils, num_virtual_coils)
    calib = _calibration_columns(kspace, calib_lines).reshape(coils, -1).to(torch.complex128)
    u, _, _ = torch.linalg.svd(calib, full_matrices=True)
    return u[:, :num_virtual_coils].conj().T.to(kspace.dtype)


def apply_coil_matrix(data: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Mix coils: ``out[n] = sum_c matrix[n, c] data[c]`` for ``data`` ``[..., C, H, W]``."""
    return torch.einsum("nc,...chw->...nhw", matrix.to(data.dtype), data)


def _procrustes_align(matrices: torch.Tensor) -> torch.Tensor:
    """Rotate each ``[N, C]`` matrix towards its (aligned) neighbour nearer the centre.

    ``P`` minimising ``||P A_x - A_ref||_F`` over unitary ``P`` is ``U V^H`` with
    ``U S V^H = svd(A_ref A_x^H)``.
    """
    out = matrices.clone()
    centre = out.shape[0] // 2
    for order in (range(centre + 1, out.shape[0]), range(centre - 1, -1, -1)):
        for x in order:
            ref = out[x - 1] if x > centre else out[x + 1]
            u, _, vh = torch.linalg.svd(ref @ out[x].conj().T)
            out[x] = (u @ vh) @ out[x]
    return out


def gdcc_compression_matrices(kspace: torch.Tensor, num_virtual_coils: int,
                              calib_lines: int | None = 24, window: int | None = None, *,
                              centered: bool = True) -> torch.Tensor:
    """GDCC: one aligned ``[N, C]`` compression matrix per readout position (Zhang 2013).

    The calibration columns are inverse-transformed along the readout (H) into hybrid space;
    at each position ``x`` the SVD of the samples of ``window`` neighbouring positions (zero
    outside) gives ``U_x[:, :N]^H``, and the matrices are aligned from the centre outward.

    Args:
        kspace: Complex k-space ``[C, H, W]`` of one slice.
        num_virtual_coils: ``N``.
        calib_lines: Central phase-encoding columns used (None: all columns).
        window: Readout positions per SVD (odd; None: ``2 * (N // 2) + 1`` as in the paper's
            code and ATOMMIC).
        centered: Whether the k-space is centered.

    Returns:
        Complex matrices ``[H, N, C]``, each with orthonormal rows.
    """
    _check_slice(kspace)
    coils, h = kspace.shape[0], kspace.shape[1]
    _check_virtual(coils, num_virtual_coils)
    window = 2 * (num_virtual_coils // 2) + 1 if window is None else int(window)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"gdcc: expected an odd window >= 1; found {window}")
    calib = _calibration_columns(kspace, calib_lines).to(torch.complex128)
    hybrid = ifft2(calib, centered=centered, spatial_dims=(-2,))  # [C, x, ky]
    half = window // 2
    padded = torch.nn.functional.pad(hybrid, (0, 0, half, half))
    matrices = []
    for x in range(h):
        block = padded[:, x:x + window].reshape(coils, -1)
        u, _, _ = torch.linalg.svd(block, full_matrices=True)
        matrices.append(u[:, :num_virtual_coils].conj().T)
    return _procrustes_align(torch.stack(matrices)).to(kspace.dtype)


def apply_gdcc(data: torch.Tensor, matrices: torch.Tensor, *,
               centered: bool = True) -> torch.Tensor:
    """Compress k-space ``[..., C, H, W]`` with per-readout matrices ``[H, N, C]``.

    Args:
        data: Complex k-space (readout along H).
        matrices: From :func:`gdcc_compression_matrices`.
        centered: Whether the k-space is centered.

    Returns:
        Complex k-space ``[..., N, H, W]``.
    """
    hybrid = ifft2(data, centered=centered, spatial_dims=(-2,))
    return fft2(mix_coils_per_row(hybrid, matrices), centered=centered, spatial_dims=(-2,))


def mix_coils_per_row(data: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """``out[n, x] = sum_c matrices[x, n, c] data[c, x]`` for hybrid or image data.

    Args:
        data: Complex ``[..., C, H, W]`` in hybrid ``(x, k_y)`` or image space (coil maps).
        matrices: Complex ``[H, N, C]``.

    Returns:
        Complex ``[..., N, H, W]``.
    """
    return torch.einsum("xnc,...cxw->...nxw", matrices.to(data.dtype), data)


def noise_whitening_matrix(noise: torch.Tensor) -> torch.Tensor:
    """Whitening matrix ``W = L^-1`` of a noise scan, ``L L^H`` its sample covariance.

    The covariance is ``n n^H / (S - 1)`` over the ``S`` samples of each coil (the scan's mean
    removed), so ``W`` applied to the same scan gives exactly the identity covariance.

    Args:
        noise: Complex noise samples ``[C, ...]`` (coils first; other dims are samples).

    Returns:
        Complex matrix ``[C, C]`` (lower triangular) in the dtype of ``noise``.
    """
    check_complex(noise, "noise scan")
    samples = noise.reshape(noise.shape[0], -1).to(torch.complex128)
    if samples.shape[1] < 2 * samples.shape[0]:
        raise ValueError(f"noise scan: expected at least {2 * samples.shape[0]} samples per coil "
                         f"for a {samples.shape[0]}-coil covariance; found {samples.shape[1]}")
    samples = samples - samples.mean(dim=1, keepdim=True)
    cov = samples @ samples.conj().T / (samples.shape[1] - 1)
    try:
        chol = torch.linalg.cholesky(cov)
    except RuntimeError:  # torch.linalg.LinAlgError subclasses RuntimeError
        raise ValueError("noise scan: its covariance is singular (a silent or duplicated "
                         "coil?); expected independent noise on every coil") from None
    eye = torch.eye(cov.shape[0], dtype=cov.dtype)
    return torch.linalg.solve_triangular(chol, eye, upper=False).to(noise.dtype)
