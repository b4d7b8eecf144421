"""Dynamic U-Net in the style of nnU-Net (Isensee et al. 2021, Nature Methods 18:203-211).

The topology is data-driven: per-level kernel sizes and (possibly anisotropic) strides, strided
convolutions instead of pooling, instance norm + leaky ReLU, optional residual blocks, and
deep supervision (extra 1x1 heads on the coarser decoder levels, used by the loss in training).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from atommic_seg.nets.blocks import (
    ConvBlock,
    DeepSupervisionHeads,
    ResidualConvBlock,
    Up,
    conv_nd,
)

__all__ = ["DynUNetND"]


def _per_axis(value: int | Sequence[int], dims: int) -> tuple[int, ...]:
    return (int(value),) * dims if isinstance(value, int) else tuple(int(v) for v in value)


class DynUNetND(nn.Module):
    """nnU-Net-style U-Net.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels (classes).
        kernel_sizes: One kernel size (int or per axis) per level.
        strides: One stride per level; the first is usually 1 (no downsampling).
        filters: Channels per level (default ``32 * 2**level`` capped at 320).
        residual: Use residual blocks in the encoder.
        deep_supervision_heads: Number of extra outputs from coarser decoder levels.
        norm: Normalization kind.
        activation: Activation kind.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S]``; in training with deep
        supervision, a list of logits, full resolution first, then coarser levels.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int,
                 kernel_sizes: Sequence[int | Sequence[int]] = (3, 3, 3, 3),
                 strides: Sequence[int | Sequence[int]] = (1, 2, 2, 2),
                 filters: Sequence[int] | None = None, residual: bool = False,
                 deep_supervision_heads: int = 0, norm: str = "instance",
                 activation: str = "leaky_relu") -> None:
        super().__init__()
        if len(kernel_sizes) != len(strides):
            raise ValueError(f"kernel_sizes and strides need one entry per level; found "
                             f"{len(kernel_sizes)} and {len(strides)}")
        levels = len(strides)
        if deep_supervision_heads > levels - 2:
            raise ValueError(f"deep_supervision_heads must be <= {levels - 2} for {levels} "
                             f"levels, found {deep_supervision_heads}")
        filters = list(filters or [min(32 * 2**i, 320) for i in range(levels)])
        strides_t = [_per_axis(s, dims) for s in strides]
        self.size_divisor = tuple(
            int(torch.tensor([s[a] for s in strides_t]).prod()) for a in range(dims))
        block_cls = ResidualConvBlock if residual else ConvBlock
        kw = {"norm": norm, "activation": activation}
        self.encoder = nn.ModuleList()
        cin = in_channels
        for i in range(levels):
            self.encoder.append(block_cls(dims, cin, filters[i], kernel_sizes[i], strides_t[i],
                                          **kw))
            cin = filters[i]
        self.decoder = nn.ModuleList(
            Up(dims, filters[i], filters[i - 1], filters[i - 1], factor=strides_t[i],
               kernel_size=kernel_sizes[i - 1], **kw)
            for i in range(levels - 1, 0, -1)
        )
        self.head = conv_nd(dims, filters[0], out_channels, 1)
        # heads on decoder outputs at levels 1..deep_supervision_heads (coarser than full)
        self.deep_heads = DeepSupervisionHeads(dims, filters[1:deep_supervision_heads + 1],
                                               out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Return logits, or a list of logits in training with deep supervision."""
        skips = []
        for enc in self.encoder:
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        decoded = []  # decoder outputs, coarsest first
        for dec in self.decoder:
            x = dec(x, skips.pop())
            decoded.append(x)
        logits = self.head(x)
        if not (self.training and len(self.deep_heads)):
            return logits
        return self.deep_heads.outputs(logits, decoded[::-1])
