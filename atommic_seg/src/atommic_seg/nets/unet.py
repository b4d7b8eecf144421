"""U-Net encoder-decoder for 2D and 3D, with optional attention gates or lambda blocks.

One network serves three models: the plain U-Net (Ronneberger et al. 2015, MICCAI; 3D as
Çiçek et al. 2016), the Attention U-Net (Oktay et al. 2018, arXiv:1804.03999: an
:class:`AttentionGate` on every skip) and the Lambda U-Net (the convolutions of the deepest
levels replaced by lambda blocks, Bello 2021, arXiv:2102.08602).
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_seg.nets.blocks import (
    AttentionGate,
    ConvBlock,
    DeepSupervisionHeads,
    Down,
    Up,
    conv_nd,
)
from atommic_seg.nets.lambda_layer import LambdaBlock

__all__ = ["UNetND"]


class UNetND(nn.Module):
    """U-Net with ``num_pool_layers`` downsamplings by 2.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels (1 for magnitude, 2 for complex as real/imag).
        out_channels: Output channels (classes).
        channels: Channels of the first level, doubled at every level.
        num_pool_layers: Number of downsamplings.
        dropout: Dropout after every conv block.
        norm: Normalization kind.
        activation: Activation kind.
        attention: If True, gate every skip connection (Attention U-Net).
        lambda_levels: Number of deepest levels (bottleneck included) built from
            :class:`LambdaBlock` instead of convolutions (0 = plain U-Net).
        lambda_heads: Heads of the lambda layers.
        lambda_query_depth: Query depth of the lambda layers.
        lambda_receptive_field: Receptive field of the lambda position lambdas.
        deep_supervision_heads: Number of coarser decoder levels (from the second finest)
            with an extra 1x1 head whose logits are returned in training (deep supervision,
            see :class:`~atommic_seg.nets.blocks.DeepSupervisionHeads`); at most
            ``num_pool_layers - 1``.

    Shapes:
        ``[B, in_channels, *S]`` -> logits ``[B, out_channels, *S]`` (float32), with every
        size in ``S`` divisible by ``size_divisor``; in training with deep supervision, a
        list of logits, full resolution first, then coarser levels.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, channels: int = 32,
                 num_pool_layers: int = 4, dropout: float = 0.0, norm: str = "instance",
                 activation: str = "leaky_relu", attention: bool = False,
                 lambda_levels: int = 0, lambda_heads: int = 4, lambda_query_depth: int = 16,
                 lambda_receptive_field: int = 5, deep_supervision_heads: int = 0) -> None:
        super().__init__()
        if not 0 <= deep_supervision_heads <= num_pool_layers - 1:
            raise ValueError(f"deep_supervision_heads must be in [0, {num_pool_layers - 1}] "
                             f"for num_pool_layers={num_pool_layers}, found "
                             f"{deep_supervision_heads}")
        self.size_divisor = (2**num_pool_layers,) * dims
        self.attention = attention
        kw = {"norm": norm, "activation": activation, "dropout": dropout}
        widths = [channels * 2**i for i in range(num_pool_layers + 1)]

        def block(level: int, cin: int, cout: int) -> nn.Module:
            if level > num_pool_layers - lambda_levels:
                return nn.Sequential(
                    ConvBlock(dims, cin, cout, num_convs=1, **kw),
                    LambdaBlock(dims, cout, cout, lambda_heads, lambda_query_depth,
                                lambda_receptive_field, norm, activation))
            return ConvBlock(dims, cin, cout, **kw)

        self.encoder = nn.ModuleList([block(0, in_channels, widths[0])])
        for level in range(1, num_pool_layers + 1):
            cin, cout = widths[level - 1], widths[level]
            self.encoder.append(Down(dims, cin, cout, block=block(level, cin, cout)))
        self.decoder = nn.ModuleList()
        self.gates = nn.ModuleList()
        for level in range(num_pool_layers, 0, -1):
            cin, cout = widths[level], widths[level - 1]
            self.decoder.append(Up(dims, cin, cout, cout, block=block(level - 1, 2 * cout, cout)))
            if attention:
                self.gates.append(AttentionGate(dims, cout, cin, max(cout // 2, 1)))
        self.head = conv_nd(dims, widths[0], out_channels, 1)
        self.deep_heads = DeepSupervisionHeads(dims, widths[1:deep_supervision_heads + 1],
                                               out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Return class logits of the same spatial size as ``x`` (a list in deep supervision)."""
        skips = []
        for enc in self.encoder:
            x = enc(x)
            skips.append(x)
        x = skips.pop()
        decoded = []  # decoder outputs, coarsest first
        for i, dec in enumerate(self.decoder):
            skip = skips.pop()
            if self.attention:
                skip = self.gates[i](skip, x)
            x = dec(x, skip)
            decoded.append(x)
        logits = self.head(x)
        if not (self.training and len(self.deep_heads)):
            return logits
        return self.deep_heads.outputs(logits, decoded[::-1])
