"""Real-valued convolutional networks applied to complex channel stacks.

Many zoo models run plain real CNNs on complex images or on buffers of several complex
images; :class:`ComplexChannelNet` does the conversion once: complex ``[N, C, H, W]`` becomes
real ``[N, 2C, H, W]`` (real and imaginary part of each channel side by side) and back.
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_rec.physics import channels_to_complex, complex_to_channels

__all__ = ["ComplexChannelNet", "ConvStack"]


class ComplexChannelNet(nn.Module):
    """Run ``net`` (real ``[N, 2C, H, W] -> [N, 2C', H, W]``) on complex ``[N, C, H, W]``.

    Args:
        net: The real-valued network; its output channel count must be even.

    Example:
        >>> net = ComplexChannelNet(nn.Conv2d(4, 2, 3, padding=1))
        >>> net(torch.zeros(1, 2, 8, 8, dtype=torch.complex64)).shape
        torch.Size([1, 1, 8, 8])
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Complex [N, C, H, W] -> complex [N, C', H, W] (complex64)."""
        if not x.is_complex() or x.ndim != 4:
            raise ValueError(f"ComplexChannelNet: expected complex [N, C, H, W], found "
                             f"{x.dtype} of shape {tuple(x.shape)}")
        out = self.net(complex_to_channels(x).flatten(1, 2))
        return channels_to_complex(out.unflatten(1, (-1, 2)).contiguous())


class ConvStack(nn.Module):
    """``n_convs`` 3x3 convolutions with an activation between them (none after the last).

    The plain CNN of the deep cascade (Schlemper et al., IEEE TMI 2018, arXiv:1704.02422),
    also the "CONV" option of the cross-domain networks.

    Args:
        in_chans: Input channels.
        out_chans: Output channels.
        hidden_chans: Channels of the hidden layers.
        n_convs: Number of convolutions (>= 2).
        activation: The activation module, used after every convolution but the last; pass
            one instance to share it (a PReLU's slope then is one parameter for all layers).
        batchnorm: Batch normalisation after every convolution.
    """

    def __init__(self, in_chans: int, out_chans: int, hidden_chans: int, n_convs: int = 3,
                 activation: nn.Module | None = None, batchnorm: bool = False) -> None:
        super().__init__()
        if n_convs < 2 or hidden_chans < 1:
            raise ValueError(f"ConvStack: expected n_convs >= 2 and hidden channels >= 1, found "
                             f"{n_convs} and {hidden_chans}")
        activation = activation if activation is not None else nn.ReLU()
        layers: list[nn.Module] = []
        for i in range(n_convs):
            c_in = in_chans if i == 0 else hidden_chans
            c_out = out_chans if i == n_convs - 1 else hidden_chans
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out, eps=1e-4))
            if i < n_convs - 1:
                layers.append(activation)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_chans, H, W] float -> [N, out_chans, H, W]."""
        return self.layers(x)
