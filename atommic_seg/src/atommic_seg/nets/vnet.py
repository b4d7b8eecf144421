"""V-Net of Milletari, Navab and Ahmadi 2016, 2D and 3D.

Paper: "V-Net: Fully convolutional neural networks for volumetric medical image
segmentation", 3DV 2016, arXiv:1606.04797.

Residual stages of 1, 2, 3, 3, ... ``k x k`` convolutions with PReLU, downsampling by strided
2x2 convolutions (no pooling), upsampling by transposed convolutions, and fine-grained skips.
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_seg.nets.blocks import conv_nd, conv_transpose_nd, make_norm

__all__ = ["VNetND"]


class _Stage(nn.Module):
    """``num_convs`` x (conv -> norm -> PReLU) with a residual sum before the last PReLU."""

    def __init__(self, dims: int, channels: int, num_convs: int, kernel_size: int,
                 norm: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(num_convs):
            layers += [conv_nd(dims, channels, channels, kernel_size, padding=kernel_size // 2),
                       make_norm(norm, dims, channels)]
            if i < num_convs - 1:
                layers.append(nn.PReLU(channels))
        self.body = nn.Sequential(*layers)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


class VNetND(nn.Module):
    """V-Net.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels (classes).
        channels: Channels of the first stage (16 in the paper), doubled per level.
        num_levels: Number of downsamplings (4 in the paper).
        kernel_size: Convolution kernel (5 in the paper).
        norm: Normalization kind (the paper used none; batch norm is common today).

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S]``, ``S`` divisible by
        ``size_divisor``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, channels: int = 16,
                 num_levels: int = 4, kernel_size: int = 5, norm: str = "batch") -> None:
        super().__init__()
        self.size_divisor = (2**num_levels,) * dims
        convs = [min(i + 1, 3) for i in range(num_levels + 1)]  # 1, 2, 3, 3, 3
        widths = [channels * 2**i for i in range(num_levels + 1)]
        self.stem = nn.Sequential(
            conv_nd(dims, in_channels, channels, kernel_size, padding=kernel_size // 2),
            make_norm(norm, dims, channels), nn.PReLU(channels))
        self.stem_stage = _Stage(dims, channels, convs[0], kernel_size, norm)
        self.down = nn.ModuleList(
            nn.Sequential(conv_nd(dims, widths[i], widths[i + 1], 2, stride=2),
                          make_norm(norm, dims, widths[i + 1]), nn.PReLU(widths[i + 1]))
            for i in range(num_levels))
        self.enc_stages = nn.ModuleList(
            _Stage(dims, widths[i + 1], convs[i + 1], kernel_size, norm)
            for i in range(num_levels))
        # decoder level i: upsample to widths[i] channels, concatenate the skip (widths[i]),
        # residual stage on 2 * widths[i] channels (as in the paper's 256-128-64-32 path)
        self.up = nn.ModuleList()
        self.dec_stages = nn.ModuleList()
        for i in reversed(range(num_levels)):
            cin = widths[i + 1] * (1 if i == num_levels - 1 else 2)
            self.up.append(nn.Sequential(conv_transpose_nd(dims, cin, widths[i], 2, stride=2),
                                         make_norm(norm, dims, widths[i]), nn.PReLU(widths[i])))
            self.dec_stages.append(_Stage(dims, 2 * widths[i], convs[i + 1], kernel_size, norm))
        self.head = conv_nd(dims, widths[0] * 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class logits of the same spatial size as ``x``."""
        x = self.stem_stage(self.stem(x))
        skips = [x]
        for down, stage in zip(self.down, self.enc_stages, strict=True):
            x = stage(down(x))
            skips.append(x)
        x = skips.pop()
        for up, stage in zip(self.up, self.dec_stages, strict=True):
            x = stage(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
