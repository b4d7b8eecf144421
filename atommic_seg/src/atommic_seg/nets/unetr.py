"""UNETR of Hatamizadeh et al. 2022, 2D and 3D.

Paper: "UNETR: Transformers for 3D medical image segmentation", WACV 2022, arXiv:2103.10504.

A ViT encoder on ``patch_size``-sized patches; hidden states from evenly spaced layers are
reshaped to grids and upsampled by transposed convolutions to the scales of a U-Net decoder,
which fuses them from coarse to fine with the input's own conv features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from atommic_seg.nets.blocks import ConvBlock, Up, conv_nd, conv_transpose_nd
from atommic_seg.nets.transformer import TransformerEncoder

__all__ = ["UNETRND"]


class UNETRND(nn.Module):
    """UNETR.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels (classes).
        img_size: Input size the position embedding is learned for (other sizes that are
            multiples of ``patch_size`` work by interpolating it).
        patch_size: Patch edge, a power of two >= 4 (16 in the paper).
        feature_size: Channels of the finest decoder level (16 in the paper).
        hidden_size: Transformer width (768 in the paper).
        num_layers: Transformer layers (12 in the paper).
        num_heads: Attention heads (12 in the paper).
        norm: Normalization kind of the conv blocks.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S]``, ``S`` divisible by ``patch_size``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int,
                 img_size: Sequence[int], patch_size: int = 16, feature_size: int = 16,
                 hidden_size: int = 768, num_layers: int = 12, num_heads: int = 12,
                 norm: str = "instance") -> None:
        super().__init__()
        levels = round(math.log2(patch_size))
        if 2**levels != patch_size or levels < 2:
            raise ValueError(f"patch_size must be a power of two >= 4, found {patch_size}")
        if len(img_size) != dims:
            raise ValueError(f"img_size needs {dims} entries, found {list(img_size)}")
        if num_layers < levels:
            raise ValueError(f"num_layers must be >= log2(patch_size) = {levels}, found "
                             f"{num_layers}")
        self.size_divisor = (patch_size,) * dims
        grid = [int(s) // patch_size for s in img_size]
        self.vit = TransformerEncoder(dims, in_channels, hidden_size, patch_size, grid,
                                      num_layers, num_heads)
        # taps: hidden states used for the levels 1..levels-1 and the bottleneck
        self.taps = [num_layers * (i + 1) // levels - 1 for i in range(levels)]
        kw = {"norm": norm}
        widths = [feature_size * 2**i for i in range(levels)]
        self.stem = ConvBlock(dims, in_channels, widths[0], **kw)
        self.projections = nn.ModuleList()
        for level in range(1, levels):
            # upsample the tap by 2**(levels - level) to reach 1 / 2**level of the input
            ups: list[nn.Module] = [conv_transpose_nd(dims, hidden_size, widths[level], 2,
                                                      stride=2)]
            for _ in range(levels - level - 1):
                ups += [ConvBlock(dims, widths[level], widths[level], num_convs=1, **kw),
                        conv_transpose_nd(dims, widths[level], widths[level], 2, stride=2)]
            self.projections.append(nn.Sequential(*ups))
        self.decoder = nn.ModuleList()
        cin = hidden_size
        for level in range(levels - 1, -1, -1):
            self.decoder.append(Up(dims, cin, widths[level], widths[level], **kw))
            cin = widths[level]
        self.head = conv_nd(dims, widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of the same spatial size as ``x``."""
        b = x.shape[0]
        states, grid = self.vit(x)

        def to_grid(tokens: torch.Tensor) -> torch.Tensor:
            return tokens.transpose(1, 2).reshape(b, tokens.shape[-1], *grid)

        skips = [self.stem(x)]
        for level, proj in enumerate(self.projections, start=1):
            skips.append(proj(to_grid(states[self.taps[level - 1]])))
        y = to_grid(states[self.taps[-1]])
        for dec in self.decoder:
            y = dec(y, skips.pop())
        return self.head(y)
