"""Convolutional building blocks shared by every segmentation network (2D and 3D).

Every block takes ``dims`` (2 or 3) and works on real tensors ``[batch, channels, *spatial]``
(``float32``). The networks in this package are assembled from these blocks only, so a fix
here fixes every model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "AttentionGate",
    "ConvBlock",
    "DeepSupervisionHeads",
    "Down",
    "ResidualConvBlock",
    "Up",
    "conv_nd",
    "conv_transpose_nd",
    "make_activation",
    "make_norm",
]


def _check_dims(dims: int) -> int:
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, found {dims!r}; hint: 2 for slices, 3 for volumes")
    return dims


def conv_nd(dims: int, *args, **kwargs) -> nn.Module:
    """``nn.Conv2d`` or ``nn.Conv3d`` with the given arguments."""
    return (nn.Conv2d if _check_dims(dims) == 2 else nn.Conv3d)(*args, **kwargs)


def conv_transpose_nd(dims: int, *args, **kwargs) -> nn.Module:
    """``nn.ConvTranspose2d`` or ``nn.ConvTranspose3d`` with the given arguments."""
    return (nn.ConvTranspose2d if _check_dims(dims) == 2 else nn.ConvTranspose3d)(*args, **kwargs)


def make_norm(kind: str, dims: int, channels: int) -> nn.Module:
    """A normalization layer: ``"instance"``, ``"batch"``, ``"group"`` or ``"none"``."""
    _check_dims(dims)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if kind == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be instance, batch, group or none, found {kind!r}")


def make_activation(kind: str, channels: int = 1) -> nn.Module:
    """An activation: ``"leaky_relu"``, ``"relu"``, ``"prelu"`` or ``"gelu"``."""
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.01, inplace=True)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "prelu":
        return nn.PReLU(channels)
    if kind == "gelu":
        return nn.GELU()
    raise ValueError(f"activation must be leaky_relu, relu, prelu or gelu, found {kind!r}")


def _tuple(value: int | Sequence[int], dims: int) -> tuple[int, ...]:
    return (int(value),) * dims if isinstance(value, int) else tuple(int(v) for v in value)


class ConvBlock(nn.Module):
    """``num_convs`` x (conv -> norm -> activation), with optional dropout at the end.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size (int or per-axis); padding keeps the size ("same").
        stride: Stride of the first convolution (downsamples if > 1).
        num_convs: Number of convolutions.
        norm: Normalization kind, see :func:`make_norm`.
        activation: Activation kind, see :func:`make_activation`.
        dropout: Dropout probability applied after the block.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S / stride]``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 num_convs: int = 2, norm: str = "instance", activation: str = "leaky_relu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        kernel = _tuple(kernel_size, dims)
        padding = tuple(k // 2 for k in kernel)
        layers: list[nn.Module] = []
        for i in range(num_convs):
            layers += [
                conv_nd(dims, in_channels if i == 0 else out_channels, out_channels, kernel,
                        stride=stride if i == 0 else 1, padding=padding, bias=norm == "none"),
                make_norm(norm, dims, out_channels),
                make_activation(activation, out_channels),
            ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.block(x)


class ResidualConvBlock(nn.Module):
    """A :class:`ConvBlock` plus a (projected) identity shortcut, activation after the sum.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size (int or per-axis).
        stride: Stride of the first convolution and of the shortcut projection.
        num_convs: Number of convolutions in the residual branch.
        norm: Normalization kind.
        activation: Activation kind.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S / stride]``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 num_convs: int = 2, norm: str = "instance",
                 activation: str = "leaky_relu") -> None:
        super().__init__()
        self.body = ConvBlock(dims, in_channels, out_channels, kernel_size, stride, num_convs,
                              norm, activation)
        # drop the last activation so it is applied after the sum
        self.body.block = nn.Sequential(*list(self.body.block.children())[:-1])
        needs_proj = in_channels != out_channels or any(s != 1 for s in _tuple(stride, dims))
        self.shortcut = (
            nn.Sequential(conv_nd(dims, in_channels, out_channels, 1, stride=stride, bias=False),
                          make_norm(norm, dims, out_channels))
            if needs_proj else nn.Identity()
        )
        self.act = make_activation(activation, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.act(self.body(x) + self.shortcut(x))


class Down(nn.Module):
    """Downsample by ``factor`` (max pooling) then a :class:`ConvBlock` (or ``block``).

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Input channels.
        out_channels: Output channels.
        factor: Pooling factor.
        block: Optional replacement for the conv block (``in_channels -> out_channels``).
        **block_kwargs: Passed to :class:`ConvBlock`.

    Shapes:
        ``[B, in_channels, *S]`` -> ``[B, out_channels, *S / factor]``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int, factor: int = 2,
                 block: nn.Module | None = None, **block_kwargs) -> None:
        super().__init__()
        pool = nn.MaxPool2d if _check_dims(dims) == 2 else nn.MaxPool3d
        self.pool = pool(factor)
        self.conv = block if block is not None else ConvBlock(dims, in_channels, out_channels,
                                                              **block_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool, then convolve."""
        return self.conv(self.pool(x))


class Up(nn.Module):
    """Upsample (transposed conv), concatenate the skip, then a :class:`ConvBlock`.

    Args:
        dims: 2 or 3 spatial dimensions.
        in_channels: Channels of the coarse input.
        skip_channels: Channels of the skip connection.
        out_channels: Output channels.
        factor: Upsampling factor (int or per-axis).
        block: Optional replacement for the conv block after concatenation, taking
            ``in_channels = out_channels + skip_channels``.
        **block_kwargs: Passed to :class:`ConvBlock`.

    Shapes:
        ``x [B, in_channels, *S]``, ``skip [B, skip_channels, *S * factor]`` ->
        ``[B, out_channels, *S * factor]``.
    """

    def __init__(self, dims: int, in_channels: int, skip_channels: int, out_channels: int,
                 factor: int | Sequence[int] = 2, block: nn.Module | None = None,
                 **block_kwargs) -> None:
        super().__init__()
        factor_t = _tuple(factor, dims)
        self.up = conv_transpose_nd(dims, in_channels, out_channels, factor_t, stride=factor_t)
        self.conv = block if block is not None else ConvBlock(
            dims, out_channels + skip_channels, out_channels, **block_kwargs)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``x``, concatenate ``skip`` along channels, convolve."""
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class AttentionGate(nn.Module):
    """Additive attention gate of Oktay et al. 2018 ("Attention U-Net", arXiv:1804.03999).

    The gating signal ``g`` (coarse, decoder) weights the skip features ``x`` (fine,
    encoder): ``alpha = sigmoid(psi(relu(W_x x + up(W_g g))))``, output ``x * alpha``.

    Args:
        dims: 2 or 3 spatial dimensions.
        skip_channels: Channels of ``x``.
        gate_channels: Channels of ``g``.
        inter_channels: Channels of the intermediate space.

    Shapes:
        ``x [B, skip_channels, *S]``, ``g [B, gate_channels, *S']`` -> ``[B, skip_channels, *S]``.
    """

    def __init__(self, dims: int, skip_channels: int, gate_channels: int,
                 inter_channels: int) -> None:
        super().__init__()
        self.theta_x = conv_nd(dims, skip_channels, inter_channels, 1, bias=False)
        self.phi_g = conv_nd(dims, gate_channels, inter_channels, 1)
        self.psi = conv_nd(dims, inter_channels, 1, 1)
        self.mode = "bilinear" if dims == 2 else "trilinear"

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Return the gated skip features (same shape as ``x``)."""
        g = nn.functional.interpolate(self.phi_g(g), size=x.shape[2:], mode=self.mode,
                                      align_corners=False)
        alpha = torch.sigmoid(self.psi(torch.relu(self.theta_x(x) + g)))
        return x * alpha


class DeepSupervisionHeads(nn.ModuleList):
    """1x1 convolution heads on coarser decoder levels, for deep supervision.

    Deep supervision (Lee et al. 2015, AISTATS, "Deeply-supervised nets"; used by nnU-Net)
    adds a loss on the logits of coarser decoder levels; the model upsamples them to the
    input size and weights them 1/2, 1/4, ... (see ``SegmentationModel.compute_loss``).

    Args:
        dims: 2 or 3 spatial dimensions.
        level_channels: Channels of decoder levels 1, 2, ... (one head each; level 0 is the
            full-resolution output, which has the network's own head).
        out_channels: Output channels (classes).
    """

    def __init__(self, dims: int, level_channels: Sequence[int], out_channels: int) -> None:
        super().__init__(conv_nd(dims, c, out_channels, 1) for c in level_channels)

    def outputs(self, logits: torch.Tensor, decoded: Sequence[torch.Tensor]
                ) -> list[torch.Tensor]:
        """``[logits, head_1(decoded[1]), ...]``; ``decoded[i]`` is decoder level ``i``."""
        return [logits] + [head(decoded[level]) for level, head in enumerate(self, start=1)]
