"""Multi-level wavelet CNN (Liu et al., CVPRW 2018), the image network of XPDNet.

Reference: P. Liu, H. Zhang, K. Zhang, L. Lin and W. Zuo, "Multi-level Wavelet-CNN for Image
Restoration", CVPR Workshops 2018, arXiv:1805.07071. Down-sampling is an orthonormal 2D Haar
transform (4x the channels at half the size), up-sampling its inverse; the channel plan and
dilations follow ATOMMIC's ``MWCNN``, so equal settings count equal parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MWCNN", "haar_forward", "haar_inverse"]

# rows: LL, HL, LH, HH over the 2x2 block (p00, p01, p10, p11); orthonormal
_HAAR = 0.5 * torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, 1.0, -1.0, 1.0],
                            [-1.0, -1.0, 1.0, 1.0], [1.0, -1.0, -1.0, 1.0]])


def haar_forward(x: torch.Tensor) -> torch.Tensor:
    """One level of the orthonormal 2D Haar transform: [N, C, H, W] -> [N, 4C, H/2, W/2].

    Args:
        x: Real tensor with even H and W.

    Returns:
        The sub-bands, channel ``4 c + b`` being band ``b`` (LL, HL, LH, HH) of channel ``c``.
    """
    blocks = F.pixel_unshuffle(x, 2)  # [N, 4C, ...], channel 4 c + (2 i + j)
    n, c4, h, w = blocks.shape
    bands = torch.einsum("bp,ncphw->ncbhw", _HAAR.to(x), blocks.view(n, c4 // 4, 4, h, w))
    return bands.reshape(n, c4, h, w)


def haar_inverse(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_forward`: [N, 4C, H, W] -> [N, C, 2H, 2W]."""
    n, c4, h, w = x.shape
    blocks = torch.einsum("bp,ncbhw->ncphw", _HAAR.to(x), x.view(n, c4 // 4, 4, h, w))
    return F.pixel_shuffle(blocks.reshape(n, c4, h, w), 2)


def _conv(c_in: int, c_out: int, dilation: int, bias: bool, batchnorm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation,
                                         bias=bias)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(c_out, eps=1e-4, momentum=0.95))
    return [*layers, nn.ReLU()]


def _level(c_in: int, c_out: int, chans: int, dilations: tuple[int, int], bias: bool,
           batchnorm: bool, conv_first: bool) -> nn.Sequential:
    """A convolution ``c_in -> c_out`` and a dilated pair on ``chans`` channels (either order)."""
    single = _conv(c_in, c_out, 1, bias, batchnorm)
    pair = [*_conv(chans, chans, dilations[0], bias, batchnorm),
            *_conv(chans, chans, dilations[1], bias, batchnorm)]
    return nn.Sequential(*(single + pair if conv_first else pair + single))


class MWCNN(nn.Module):
    """A U-Net-like CNN whose down/up-sampling is the Haar wavelet transform.

    Level ``l`` of ``num_scales`` works on ``hidden_channels * 2**l`` channels: a 3x3
    convolution + ReLU and two dilated ones (dilations 2, 1; 2, 3 at the coarsest level) on the
    way down, the mirror on the way up, with additive skips between the levels. With
    ``num_scales = 0`` it is the identity.

    Args:
        in_chans: Input (= output) channels.
        hidden_channels: Channels of the finest level.
        num_scales: Number of levels.
        bias: Convolution biases.
        batchnorm: Batch normalisation after every convolution.

    Example:
        >>> net = MWCNN(4, hidden_channels=4, num_scales=2)
        >>> net(torch.zeros(1, 4, 9, 10)).shape
        torch.Size([1, 4, 9, 10])
    """

    def __init__(self, in_chans: int, hidden_channels: int = 16, num_scales: int = 4,
                 bias: bool = True, batchnorm: bool = False) -> None:
        super().__init__()
        self.num_scales = int(num_scales)
        self.down, self.up = nn.ModuleList(), nn.ModuleList()
        for level in range(self.num_scales):
            chans = hidden_channels * 2**level
            outer = in_chans if level == 0 else 4 * hidden_channels * 2 ** (level - 1)
            last = level == self.num_scales - 1
            self.down.append(_level(outer, chans, chans, (2, 3) if last else (2, 1), bias,
                                    batchnorm, conv_first=True))
        for level in reversed(range(self.num_scales)):
            chans = hidden_channels * 2**level
            outer = in_chans if level == 0 else 4 * hidden_channels * 2 ** (level - 1)
            last = level == self.num_scales - 1
            self.up.append(_level(chans, outer, chans, (3, 2) if last else (2, 1), bias,
                                  batchnorm, conv_first=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_chans, H, W] -> [N, in_chans, H, W] (odd sizes are padded, then cropped)."""
        h, w = x.shape[-2:]
        skips = []
        out = x
        for level, block in enumerate(self.down):
            if level:
                out = haar_forward(out)
            out = block(out)
            if level < self.num_scales - 1:
                out = F.pad(out, [0, out.shape[-1] % 2, 0, out.shape[-2] % 2], mode="reflect")
                skips.append(out)
        for block in self.up:
            out = block(out)
            if skips:
                skip = skips.pop()
                out = haar_inverse(out)[..., :skip.shape[-2], :skip.shape[-1]] + skip
        return out[..., :h, :w]
