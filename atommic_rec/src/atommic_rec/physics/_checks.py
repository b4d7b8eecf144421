"""Input checks shared by the physics functions (one-line ``ValueError`` messages)."""

from __future__ import annotations

import torch

__all__ = ["as_complex", "check_complex", "check_ndim"]

_COMPLEX = (torch.complex64, torch.complex128)


def as_complex(data: torch.Tensor, name: str = "data") -> torch.Tensor:
    """Return ``data`` as a complex tensor of at least complex64 precision.

    Native complex64/complex128 pass through untouched (no copy). Half-precision complex and
    real-stacked tensors (last dim 2, any float dtype, e.g. bf16 under autocast) are converted
    to complex64 so FFTs never run in reduced precision.
    """
    if data.dtype in _COMPLEX:
        return data
    if data.is_complex():  # complex32
        return data.to(torch.complex64)
    if data.is_floating_point() and data.ndim >= 1 and data.shape[-1] == 2:
        return torch.view_as_complex(data.float().contiguous())
    raise ValueError(
        f"{name}: expected complex64 tensor (or real-stacked float [..., 2]); "
        f"found {data.dtype} of shape {tuple(data.shape)}"
    )


def check_complex(data: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``data`` is a complex tensor."""
    if not isinstance(data, torch.Tensor) or not data.is_complex():
        found = data.dtype if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"{name}: expected complex64 tensor; found {found}")


def check_ndim(data: torch.Tensor, ndim: int, name: str, layout: str) -> None:
    """Raise ``ValueError`` unless ``data.ndim >= ndim`` (``layout`` names the dims)."""
    if data.ndim < ndim:
        raise ValueError(
            f"{name}: expected at least {ndim} dims {layout}; found shape {tuple(data.shape)}"
        )
