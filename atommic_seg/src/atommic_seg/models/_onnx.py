"""ONNX export of segmentation models: ``image`` ``[B, C_in, *S]`` to ``logits``.

The graph is the network's evaluation forward pass (padding to the size divisor and
cropping included) at a fixed input shape; sliding windows and flip TTA stay outside.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["onnx_spec"]


class _Logits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


def onnx_spec(model: Any, shape: Sequence[int] | None = None) -> Any:
    """The :class:`~atommic_core.onnx_export.OnnxSpec` of a segmentation model.

    Args:
        model: A :class:`~atommic_seg.models.SegmentationModel`.
        shape: ``(B, C_in, *S)`` (default: batch 1, ``model.img_size`` if set, else 64 per
            axis in 2D and 32 in 3D).

    Returns:
        The spec with a seeded example image.
    """
    from atommic_core.onnx_export import ExportError, OnnxSpec

    dims = model.dimensionality
    if shape is None:
        sizes = model.cfg.get("img_size") or [64 if dims == 2 else 32] * dims
        shape = (1, model.in_channels, *[int(s) for s in sizes])
    if len(shape) != dims + 2 or shape[1] != model.in_channels:
        raise ExportError(f"--shape: expected B,{model.in_channels},{','.join('S' * dims)} "
                          f"for this {dims}D model, found {list(shape)}")
    image = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    return OnnxSpec(_Logits(model).eval(), (image,), ["image"], ["logits"])
