"""Conversions between native complex tensors and real channel stacks for networks."""

from __future__ import annotations

import torch

from atommic_rec.physics._checks import check_complex, check_ndim

__all__ = ["channels_to_complex", "complex_to_channels"]


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """Complex ``[..., H, W]`` -> real ``[..., 2, H, W]`` (real, imag at dim -3).

    Args:
        x: Complex64 tensor with at least 2 dims.

    Returns:
        Float32 view (no copy) of shape ``[..., 2, H, W]``.
    """
    check_complex(x, "complex_to_channels input")
    check_ndim(x, 2, "complex_to_channels input", "[..., H, W]")
    return torch.view_as_real(x).movedim(-1, -3)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """Real ``[..., 2, H, W]`` -> complex64 ``[..., H, W]``; inverse of complex_to_channels.

    Args:
        x: Float tensor whose dim -3 has size 2 (real, imag). Half precision is upcast.

    Returns:
        Complex64 tensor ``[..., H, W]``.
    """
    if x.is_complex() or x.ndim < 3 or x.shape[-3] != 2:
        raise ValueError(
            f"channels_to_complex: expected real float tensor [..., 2, H, W]; "
            f"found {x.dtype} of shape {tuple(x.shape)}"
        )
    x = x.float()
    return torch.complex(x[..., 0, :, :], x[..., 1, :, :])
