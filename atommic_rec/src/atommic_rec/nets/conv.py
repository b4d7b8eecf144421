"""A plain stack of 3x3 convolutions on complex images (the CNN of cascade-style models)."""

from __future__ import annotations

import torch
from torch import nn

from atommic_rec.physics import channels_to_complex, complex_to_channels

__all__ = ["ConvStack"]


class ConvStack(nn.Module):
    """``n_convs`` 3x3 convolutions (with bias), a PReLU between them, on real/imag channels.

    One PReLU slope is learned per stack (ATOMMIC's ``Conv2d`` block shares its activation
    between layers the same way, which keeps the parameter counts equal).

    Args:
        hidden_channels: Channels between the first and the last convolution.
        n_convs: Number of convolutions (>= 2).
        batchnorm: Batch normalisation after every convolution but the last.
        residual: Add the input to the output (``x + CNN(x)``).

    Example:
        >>> net = ConvStack(hidden_channels=4, n_convs=3)
        >>> net(torch.zeros(2, 8, 8, dtype=torch.complex64)).shape
        torch.Size([2, 8, 8])
    """

    def __init__(self, hidden_channels: int = 64, n_convs: int = 4, batchnorm: bool = False,
                 residual: bool = True) -> None:
        super().__init__()
        if n_convs < 2 or hidden_channels < 1:
            raise ValueError(f"ConvStack: expected n_convs >= 2 and hidden_channels >= 1, found "
                             f"{n_convs} and {hidden_channels}")
        self.activation = nn.PReLU()
        layers: list[nn.Module] = []
        for idx in range(n_convs):
            last = idx == n_convs - 1
            layers.append(nn.Conv2d(2 if idx == 0 else hidden_channels,
                                    2 if last else hidden_channels, 3, padding=1))
            if not last:
                if batchnorm:
                    layers.append(nn.BatchNorm2d(hidden_channels, eps=1e-4))
                layers.append(self.activation)
        self.layers = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex image [N, H, W] -> complex64 image [N, H, W]."""
        x = complex_to_channels(image)
        out = self.layers(x)
        return channels_to_complex(x + out if self.residual else out)
