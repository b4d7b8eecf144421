"""Recurrent variational network (Yiasemis et al., CVPR 2022, arXiv:2111.09639)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.phase import remove_global_phase
from atommic_rec.nets.recurrent import ConvGRUCell
from atommic_rec.physics import (
    channels_to_complex,
    complex_to_channels,
    fft2,
    ifft2,
    sense_expand,
    sense_reduce,
)

__all__ = ["ConvGRURegulariser", "RecurrentInitializer", "RecurrentVarNetNet"]


def _padded_conv(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    """Replication padding to "same" size, then a convolution."""
    return nn.Sequential(nn.ReplicationPad2d(dilation * (kernel - 1) // 2),
                         nn.Conv2d(c_in, c_out, kernel, dilation=dilation))


class ConvGRURegulariser(nn.Module):
    """Convolutions interleaved with ConvGRU cells: RecurrentVarNet's recurrent unit ``H``.

    Layer ``l`` applies a convolution (5x5 first, then 3x3, the second dilated by 2) with ReLU
    and a 1x1 :class:`~atommic_rec.nets.recurrent.ConvGRUCell` holding state ``h_l``; a last
    3x3 convolution maps back to the real/imaginary channels.

    Args:
        hidden_channels: Channels of the convolutions and hidden states.
        num_layers: Number of conv + GRU layers.
    """

    def __init__(self, hidden_channels: int = 64, num_layers: int = 4) -> None:
        super().__init__()
        convs = [_padded_conv(2, hidden_channels, 5)]
        convs += [_padded_conv(hidden_channels, hidden_channels, 3, 2 if i == 1 else 1)
                  for i in range(1, num_layers)]
        self.convs = nn.ModuleList(convs)
        self.cells = nn.ModuleList(ConvGRUCell(hidden_channels, hidden_channels)
                                   for _ in range(num_layers))
        self.conv_out = _padded_conv(hidden_channels, 2, 3)

    def forward(self, x: torch.Tensor, hidden: list[torch.Tensor]
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Input [N, 2, H, W] and states ``num_layers x [N, hidden, H, W]`` -> output, states."""
        new_hidden = []
        for conv, cell, h in zip(self.convs, self.cells, hidden, strict=True):
            h = cell(F.relu(conv(x)), h)
            new_hidden.append(h)
            x = F.relu(h)
        return self.conv_out(x), new_hidden


class RecurrentInitializer(nn.Module):
    """Learned initial hidden states from an image: dilated 3x3 convolutions, 1x1 heads.

    Args:
        out_channels: Channels of each hidden state.
        channels: Channels of the dilated convolutions.
        dilations: Their dilations.
        depth: Number of hidden states (one 1x1 head each).
        multiscale_depth: How many of the last convolutions' outputs the heads see.
    """

    def __init__(self, out_channels: int, channels: Sequence[int] = (32, 32, 64, 64),
                 dilations: Sequence[int] = (1, 1, 2, 4), depth: int = 4,
                 multiscale_depth: int = 1) -> None:
        super().__init__()
        if len(channels) != len(dilations):
            raise ValueError(f"RecurrentInitializer: expected as many dilations as channels, "
                             f"found {len(dilations)} and {len(channels)}")
        ins = [2, *channels[:-1]]
        self.convs = nn.ModuleList(_padded_conv(c_in, c, 3, d)
                                   for c_in, c, d in zip(ins, channels, dilations, strict=True))
        self.heads = nn.ModuleList(nn.Conv2d(sum(channels[-multiscale_depth:]), out_channels, 1)
                                   for _ in range(depth))
        self.multiscale_depth = multiscale_depth

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Image channels [N, 2, H, W] -> ``depth`` hidden states [N, out_channels, H, W]."""
        features = []
        for conv in self.convs:
            x = F.relu(conv(x))
            features.append(x)
        x = torch.cat(features[-self.multiscale_depth:], dim=1)
        return [F.relu(head(x)) for head in self.heads]


class RecurrentVarNetNet(nn.Module):
    """Recurrent k-space updates with a learned step and a recurrent image-domain term.

    From ``k_0 = y`` and hidden states ``h_0`` (zeros, or a learned initializer of the SENSE
    image ``A^H y``), for ``t = 0..T-1``::

        w_t, h_{t+1} = H_t(S^H F^-1 k_t, h_t)
        k_{t+1} = k_t - alpha_t M (k_t - y) + F S w_t

    and the output is ``S^H F^-1 k_T``.

    Args:
        num_steps: Recurrent steps ``T``.
        hidden_channels: Channels of the recurrent units.
        num_layers: Conv + GRU layers of each unit.
        no_parameter_sharing: Each step its own unit and ``alpha_t`` (else one for all).
        learned_initializer: Initialise the hidden states from ``A^H y`` with a
            :class:`RecurrentInitializer` (else zeros).
        initializer_channels: Its convolution channels.
        initializer_dilations: Its dilations.
        initializer_multiscale: Its multiscale depth.
        phase_equivariant: Remove the global phase of ``A^H y`` from the data first and
            restore it at the end (exact equivariance to a global phase of the data).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = RecurrentVarNetNet(num_steps=2, hidden_channels=4, num_layers=2,
        ...                          initializer_channels=(4, 4), initializer_dilations=(1, 2))
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(y, torch.ones_like(y) / 2**0.5, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_steps: int = 8, hidden_channels: int = 64, num_layers: int = 4,
                 no_parameter_sharing: bool = True, learned_initializer: bool = True,
                 initializer_channels: Sequence[int] = (32, 32, 64, 64),
                 initializer_dilations: Sequence[int] = (1, 1, 2, 4),
                 initializer_multiscale: int = 1, phase_equivariant: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        if num_steps < 1 or num_layers < 1:
            raise ValueError(f"RecurrentVarNetNet: expected num_steps >= 1 and num_layers >= 1, "
                             f"found {num_steps} and {num_layers}")
        distinct = num_steps if no_parameter_sharing else 1
        self.units = nn.ModuleList(ConvGRURegulariser(hidden_channels, num_layers)
                                   for _ in range(distinct))
        self.step_sizes = nn.Parameter(torch.ones(distinct))
        self.initializer = (RecurrentInitializer(hidden_channels, initializer_channels,
                                                 initializer_dilations, num_layers,
                                                 initializer_multiscale)
                            if learned_initializer else None)
        self.num_steps = num_steps
        self.num_layers = num_layers
        self.hidden_channels = hidden_channels
        self.phase_equivariant = bool(phase_equivariant)
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct.

        Args:
            masked_kspace: ``y``, complex64 [B, C, H, W].
            sensitivity_maps: ``S``, complex64 [B, C, H, W].
            mask: ``M`` (0/1), float, broadcastable to [B, C, H, W].

        Returns:
            ``S^H F^-1 k_T``, complex64 [B, H, W].
        """
        y = at_least_complex64(masked_kspace)
        image = sense_reduce(ifft2(y, **self.fft_kw), sensitivity_maps)
        rotation = None
        if self.phase_equivariant:
            image, y, rotation = remove_global_phase(image, y)
        if self.initializer is not None:
            hidden = self.initializer(complex_to_channels(image))
        else:
            b, h, w = image.shape
            hidden = [image.real.new_zeros(b, self.hidden_channels, h, w)] * self.num_layers
        kspace = y
        for t in range(self.num_steps):
            i = t % len(self.units)
            term, hidden = self.units[i](complex_to_channels(image), hidden)
            update = fft2(sense_expand(channels_to_complex(term), sensitivity_maps), **self.fft_kw)
            kspace = kspace - self.step_sizes[i] * mask * (kspace - y) + update
            image = sense_reduce(ifft2(kspace, **self.fft_kw), sensitivity_maps)
        return image if rotation is None else image * rotation
