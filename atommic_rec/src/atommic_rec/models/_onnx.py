"""ONNX export of reconstruction models: complex inputs and outputs as real ``[..., 2]``.

ONNX runtimes have no complex tensors, so the exported graph takes ``masked_kspace`` and
``sensitivity_maps`` ``[B, C, H, W, 2]``, ``mask`` ``[B, 1, H, W]`` and ``initial_image``
``[B, H, W, 2]`` (float32; last axis real, imaginary) and returns ``reconstruction``
``[B, H, W, 2]``: the same as :meth:`ReconstructionModel.forward` through
``torch.view_as_complex`` / ``torch.view_as_real``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["onnx_spec"]

DEFAULT_SHAPE = (1, 4, 64, 64)


class _RealIO(nn.Module):
    """``forward`` of a reconstruction model with real ``[..., 2]`` complex data."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor, initial_image: torch.Tensor) -> torch.Tensor:
        out = self.model(torch.view_as_complex(masked_kspace),
                         torch.view_as_complex(sensitivity_maps), mask,
                         torch.view_as_complex(initial_image))
        return torch.view_as_real(out)


def onnx_spec(model: Any, shape: Sequence[int] | None = None) -> Any:
    """The :class:`~atommic_core.onnx_export.OnnxSpec` of a reconstruction model.

    Args:
        model: A :class:`~atommic_rec.models.ReconstructionModel`.
        shape: ``(B, C, H, W)`` of the k-space (default ``(1, 4, 64, 64)``).

    Returns:
        The spec, with seeded example inputs (a 1D Cartesian mask, SENSE initial image).
    """
    from atommic_core.onnx_export import ExportError, OnnxSpec
    from atommic_rec.physics import adjoint_operator

    if shape is not None and len(shape) != 4:
        raise ExportError(f"--shape: expected B,C,H,W of the k-space, found {list(shape)}")
    b, c, h, w = shape or DEFAULT_SHAPE
    g = torch.Generator().manual_seed(0)
    kspace = torch.randn(b, c, h, w, dtype=torch.complex64, generator=g)
    maps = torch.randn(b, c, h, w, dtype=torch.complex64, generator=g)
    maps = maps / maps.abs().square().sum(1, keepdim=True).sqrt()
    mask = (torch.rand(b, 1, 1, w, generator=g) < 0.4).float().expand(b, 1, h, w).contiguous()
    kspace = kspace * mask
    initial = adjoint_operator(kspace, maps, mask, **model.fft_kw)
    inputs = tuple(t.contiguous() for t in (torch.view_as_real(kspace), torch.view_as_real(maps),
                                            mask, torch.view_as_real(initial)))
    return OnnxSpec(_RealIO(model).eval(), inputs,
                    ["masked_kspace", "sensitivity_maps", "mask", "initial_image"],
                    ["reconstruction"])
