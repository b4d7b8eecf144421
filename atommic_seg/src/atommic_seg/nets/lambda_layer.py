"""Lambda layer of Bello 2021 for 2D and 3D feature maps.

Paper: "LambdaNetworks: Modeling long-range interactions without attention", ICLR 2021,
arXiv:2102.08602.

A lambda layer summarises the context into small linear functions ("lambdas") and applies
them to every query: a content lambda ``softmax(K)^T V`` shared by all positions and a
position lambda computed by a local convolution over the values (the "lambda convolution"
with receptive field ``r``).
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_seg.nets.blocks import conv_nd, make_activation, make_norm

__all__ = ["LambdaBlock", "LambdaLayer"]


class LambdaLayer(nn.Module):
    """Multi-query lambda layer with content and local position lambdas.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels; must be divisible by ``heads``.
        query_depth: Query/key depth ``k``.
        heads: Number of queries per position ``h`` (value depth ``v = out_channels / h``).
        receptive_field: Size ``r`` of the local position lambda (odd).
        intra_depth: Intra-depth ``u`` of keys and values.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S]`` (float32).
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, query_depth: int = 16,
                 heads: int = 4, receptive_field: int = 5, intra_depth: int = 1) -> None:
        super().__init__()
        if out_channels % heads:
            raise ValueError(f"out_channels ({out_channels}) must be divisible by heads ({heads})")
        if receptive_field % 2 == 0:
            raise ValueError(f"receptive_field must be odd, found {receptive_field}")
        self.k, self.u, self.h = query_depth, intra_depth, heads
        self.v = out_channels // heads
        self.to_q = conv_nd(dims, in_channels, query_depth * heads, 1, bias=False)
        self.to_k = conv_nd(dims, in_channels, query_depth * intra_depth, 1, bias=False)
        self.to_v = conv_nd(dims, in_channels, self.v * intra_depth, 1, bias=False)
        self.norm_q = nn.BatchNorm1d(query_depth * heads)
        self.norm_v = nn.BatchNorm1d(self.v * intra_depth)
        # the lambda convolution: maps u value slices to k position-lambda rows, locally
        self.pos_conv = conv_nd(dims, intra_depth, query_depth, receptive_field,
                                padding=receptive_field // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer."""
        b, spatial = x.shape[0], x.shape[2:]
        n = spatial.numel()
        q = self.norm_q(self.to_q(x).flatten(2)).view(b, self.h, self.k, n)
        k = self.to_k(x).flatten(2).view(b, self.u, self.k, n).softmax(dim=-1)
        v = self.norm_v(self.to_v(x).flatten(2)).view(b, self.u, self.v, n)
        content = torch.einsum("bukn,buvn->bkv", k, v)
        y_content = torch.einsum("bhkn,bkv->bhvn", q, content)
        # position lambdas: one [k, v] matrix per position, from a conv over the value maps
        v_maps = v.permute(0, 2, 1, 3).reshape(b * self.v, self.u, *spatial)
        position = self.pos_conv(v_maps).view(b, self.v, self.k, n)
        y_position = torch.einsum("bhkn,bvkn->bhvn", q, position)
        return (y_content + y_position).reshape(b, self.h * self.v, *spatial)


class LambdaBlock(nn.Module):
    """Lambda layer -> norm -> activation, with a 1x1 projection shortcut.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels (divisible by ``heads``).
        heads: Lambda heads.
        query_depth: Lambda query depth.
        receptive_field: Lambda receptive field.
        norm: Normalization kind.
        activation: Activation kind.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S]``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, heads: int = 4,
                 query_depth: int = 16, receptive_field: int = 5, norm: str = "instance",
                 activation: str = "leaky_relu") -> None:
        super().__init__()
        self.lam = LambdaLayer(dims, in_channels, out_channels, query_depth, heads,
                               receptive_field)
        self.norm = make_norm(norm, dims, out_channels)
        self.act = make_activation(activation, out_channels)
        self.shortcut = (conv_nd(dims, in_channels, out_channels, 1)
                         if in_channels != out_channels else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.act(self.norm(self.lam(x)) + self.shortcut(x))
