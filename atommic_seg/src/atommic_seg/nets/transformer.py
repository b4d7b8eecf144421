"""Vision-transformer encoder (patch embedding + pre-norm transformer layers), 2D and 3D.

Used by UNETR. Follows Dosovitskiy et al. 2021 ("An image is worth 16x16 words"): non-
overlapping patches, a learned position embedding, pre-norm multi-head self-attention and an
MLP per layer. The position embedding is interpolated when the input grid differs from the
configured one, so inputs of other sizes work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from atommic_seg.nets.blocks import conv_nd

__all__ = ["PatchEmbedding", "TransformerEncoder", "TransformerLayer"]


class PatchEmbedding(nn.Module):
    """Split into ``patch_size`` patches, project to ``hidden_size``, add positions.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Image channels.
        hidden_size: Token width.
        patch_size: Patch edge length (same on every axis).
        grid_size: Number of patches per axis the position embedding is learned for.

    Shapes:
        ``[B, in_channels, *S]`` -> tokens ``[B, prod(S / patch_size), hidden_size]`` and the
        grid ``S / patch_size``.
    """

    def __init__(self, dims: int, in_channels: int, hidden_size: int, patch_size: int,
                 grid_size: Sequence[int]) -> None:
        super().__init__()
        self.dims = dims
        self.grid_size = tuple(int(g) for g in grid_size)
        self.proj = conv_nd(dims, in_channels, hidden_size, patch_size, stride=patch_size)
        self.position = nn.Parameter(torch.zeros(1, hidden_size, *self.grid_size))
        nn.init.trunc_normal_(self.position, std=0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Return tokens and the patch grid shape."""
        x = self.proj(x)
        grid = tuple(x.shape[2:])
        pos = self.position
        if grid != self.grid_size:
            mode = "bilinear" if self.dims == 2 else "trilinear"
            pos = nn.functional.interpolate(pos, size=grid, mode=mode, align_corners=False)
        return (x + pos).flatten(2).transpose(1, 2), grid


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: ``x + MSA(LN(x))`` then ``x + MLP(LN(x))``.

    Args:
        hidden_size: Token width (divisible by ``num_heads``).
        num_heads: Attention heads.
        mlp_ratio: MLP width as a multiple of ``hidden_size``.
        dropout: Dropout in attention output and MLP.

    Shapes:
        ``[B, N, hidden_size]`` -> same.
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        self.heads = num_heads
        self.norm1 = nn.LayerNorm(hidden_size)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(hidden_size)
        hidden = int(hidden_size * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(hidden_size, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden_size), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer."""
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        att = nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, n, c)))
        return x + self.mlp(self.norm2(x))


class TransformerEncoder(nn.Module):
    """Patch embedding followed by ``num_layers`` transformer layers.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Image channels.
        hidden_size: Token width.
        patch_size: Patch edge length.
        grid_size: Patch grid the position embedding is learned for.
        num_layers: Transformer layers.
        num_heads: Attention heads.
        mlp_ratio: MLP width multiple.
        dropout: Dropout probability.

    Shapes:
        ``forward`` returns the hidden states after every layer, each
        ``[B, N, hidden_size]``, and the patch grid.
    """

    def __init__(self, dims: int, in_channels: int, hidden_size: int, patch_size: int,
                 grid_size: Sequence[int], num_layers: int, num_heads: int,
                 mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = PatchEmbedding(dims, in_channels, hidden_size, patch_size, grid_size)
        self.layers = nn.ModuleList(
            TransformerLayer(hidden_size, num_heads, mlp_ratio, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], tuple[int, ...]]:
        """Return the hidden state after each layer (last one normalized) and the grid."""
        tokens, grid = self.embed(x)
        states = []
        for layer in self.layers:
            tokens = layer(tokens)
            states.append(tokens)
        states[-1] = self.norm(states[-1])
        return states, grid
