"""Deep iterative down-up CNN (DIDN; Yu, Park and Jeong, CVPR Workshops 2019).

The regulariser of the down-up network (DUNet, Hammernik et al., MRM 2021). The layout,
layer for layer, is ATOMMIC 1.0.1's (so the parameter counts agree), including its first- and
last-scale blocks of each down-up block, which apply one 3x3 convolution + PReLU twice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DIDN", "DownUpBlock"]


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)


def _conv_prelu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(_conv(c_in, c_out), nn.PReLU())


def _subpixel_up(c_in: int, c_out: int) -> nn.Sequential:
    """1x1 convolution to ``4 c_out`` channels and a x2 pixel shuffle."""
    return nn.Sequential(nn.Conv2d(c_in, 4 * c_out, 1), nn.PixelShuffle(2))


def _crop(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return x[..., : shape[-2], : shape[-1]]


class DownUpBlock(nn.Module):
    """One down-up block (DUB): three scales, residual convolutions, sub-pixel upsampling.

    Args:
        channels: Channels at the first scale (doubled at each of the two down-samplings).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.scale1_in = _conv_prelu(c, c)  # applied twice (shared weights)
        self.down1 = _conv(c, 2 * c, stride=2)
        self.scale2_in = _conv_prelu(2 * c, 2 * c)
        self.down2 = _conv(2 * c, 4 * c, stride=2)
        self.scale3 = _conv_prelu(4 * c, 4 * c)
        self.up1 = _subpixel_up(4 * c, 2 * c)
        self.merge2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.scale2_out = _conv_prelu(2 * c, 2 * c)
        self.up2 = _subpixel_up(2 * c, c)
        self.merge1 = nn.Conv2d(2 * c, c, 1)
        self.scale1_out = _conv_prelu(c, c)  # applied twice (shared weights)
        self.out = _conv_prelu(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> [N, C, H, W] (odd sizes are reflect-padded, then cropped)."""
        x1 = F.pad(x, [0, x.shape[-1] % 2, 0, x.shape[-2] % 2], mode="reflect")
        x1 = x1 + self.scale1_in(self.scale1_in(x1))
        x2 = self.down1(x1)
        x2 = x2 + self.scale2_in(x2)
        out = self.down2(x2)
        out = out + self.scale3(out)
        out = self.merge2(torch.cat([x2, _crop(self.up1(out), x2.shape)], dim=1))
        out = out + self.scale2_out(out)
        out = self.merge1(torch.cat([x1, _crop(self.up2(out), x1.shape)], dim=1))
        out = out + self.scale1_out(self.scale1_out(out))
        return x + _crop(self.out(out), x.shape)


class DIDN(nn.Module):
    """DIDN: strided input convolution, down-up blocks, aggregation, sub-pixel upsampling.

    One reconstruction block (shared) refines every down-up block's output; a 1x1
    convolution aggregates them before upsampling back to full size.

    Args:
        in_channels: Input channels (2: real/imag).
        out_channels: Output channels.
        hidden_channels: Channels of the down-up blocks.
        num_dubs: Number of down-up blocks.
        num_convs_recon: Convolutions of the (residual) reconstruction block.

    Example:
        >>> net = DIDN(2, 2, hidden_channels=4, num_dubs=1, num_convs_recon=1)
        >>> net(torch.zeros(1, 2, 10, 9)).shape
        torch.Size([1, 2, 10, 9])
    """

    def __init__(self, in_channels: int = 2, out_channels: int = 2, hidden_channels: int = 64,
                 num_dubs: int = 2, num_convs_recon: int = 1) -> None:
        super().__init__()
        if num_dubs < 1 or num_convs_recon < 1:
            raise ValueError(f"DIDN: expected num_dubs >= 1 and num_convs_recon >= 1, found "
                             f"{num_dubs} and {num_convs_recon}")
        c = hidden_channels
        self.conv_in = _conv_prelu(in_channels, c)
        self.down = _conv(c, c, stride=2)
        self.dubs = nn.ModuleList(DownUpBlock(c) for _ in range(num_dubs))
        self.recon = nn.Sequential(*[_conv_prelu(c, c) for _ in range(num_convs_recon - 1)],
                                   _conv(c, c))
        self.aggregate = nn.Conv2d(c * num_dubs, c, 1)
        self.conv = _conv_prelu(c, c)
        self.up = _subpixel_up(c, c)
        self.conv_out = _conv(c, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_channels, H, W] -> [N, out_channels, H, W]."""
        out = self.down(self.conv_in(x))
        features = []
        for dub in self.dubs:
            out = dub(out)
            features.append(out + self.recon(out))
        out = self.conv(self.aggregate(torch.cat(features, dim=1)))
        return _crop(self.conv_out(self.up(out)), x.shape)
