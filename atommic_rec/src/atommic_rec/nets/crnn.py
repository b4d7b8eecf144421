"""Convolutional recurrent neural network for MRI reconstruction (Qin et al., IEEE TMI 2019).

Reference: C. Qin, J. Schlemper, J. Caballero, A. N. Price, J. V. Hajnal and D. Rueckert,
"Convolutional Recurrent Neural Networks for Dynamic MR Image Reconstruction", IEEE Trans.
Med. Imaging 38(1), 280-290, 2019, arXiv:1712.01751. Here for 2D images: the recurrence runs
over the iterations only (the paper's CRNN-i), there is no temporal (CRNN-t) direction.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.image_dc import image_data_consistency
from atommic_rec.nets.recurrent import ConvGRUCell
from atommic_rec.physics import channels_to_complex, complex_to_channels, ifft2, sense_reduce

__all__ = ["CRNNetNet"]


class CRNNetNet(nn.Module):
    """One recurrent block unrolled over ``num_iterations`` with data consistency after each.

    Iteration ``i`` (weights shared by all iterations, hidden state carried across them):
    ``h_i = GRU(x_{i-1}, h_{i-1})``, ``z = x_{i-1} + C(h_i)`` with ``C`` ``n_convs`` 3x3
    convolutions + ReLU and a final 3x3 convolution to two channels, then
    ``x_i = S^H F^-1 (k - w M (k - y))``, ``k = F S z`` (see
    :func:`~atommic_rec.nets.image_dc.image_data_consistency`), from ``x_0 = S^H F^-1 y`` and
    ``h_0 = 0``. Convolutions have no biases (ATOMMIC's layout and parameter count).

    ATOMMIC 1.0.1 restarts the hidden state at zero in every iteration (so its block is not
    recurrent across iterations) and puts a ReLU on the final convolution (so the update's
    real and imaginary parts cannot be negative); this implementation does neither.

    Args:
        num_iterations: Number of iterations.
        hidden_channels: Channels of the recurrent state and the convolutions.
        n_convs: Hidden 3x3 convolutions after the recurrent cell.
        no_dc: Skip the data-consistency steps.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = CRNNetNet(num_iterations=2, hidden_channels=4, n_convs=1)
        >>> k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 8, 8, dtype=torch.complex64) / 2**0.5
        >>> [x.shape for x in net(k, s, torch.ones(1, 1, 1, 8))]
        [torch.Size([1, 8, 8]), torch.Size([1, 8, 8])]
    """

    def __init__(self, num_iterations: int = 10, hidden_channels: int = 64, n_convs: int = 3,
                 no_dc: bool = False, fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        if num_iterations < 1:
            raise ValueError(f"CRNNet: expected num_iterations >= 1, found {num_iterations}")
        self.cell = ConvGRUCell(2, hidden_channels, kernel_size=3, bias=False)
        layers: list[nn.Module] = []
        for _ in range(n_convs):
            layers += [nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1, bias=False),
                       nn.ReLU()]
        layers.append(nn.Conv2d(hidden_channels, 2, 3, padding=1, bias=False))
        self.convs = nn.Sequential(*layers)
        self.dc_weight = nn.Parameter(torch.ones(1))
        self.num_iterations = int(num_iterations)
        self.hidden_channels = int(hidden_channels)
        self.no_dc = no_dc
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> list[torch.Tensor]:
        """Reconstruct, keeping the estimate of every iteration.

        Args:
            masked_kspace: Measured k-space, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps, complex64 [B, C, H, W].
            mask: Sampling mask, float, broadcastable to [B, C, H, W].

        Returns:
            ``num_iterations`` images, complex64 [B, H, W] each; the last is the reconstruction.
        """
        masked_kspace = at_least_complex64(masked_kspace)
        image = sense_reduce(ifft2(masked_kspace, **self.fft_kw), sensitivity_maps)
        b, h, w = image.shape
        hidden = image.real.new_zeros(b, self.hidden_channels, h, w)
        estimates = []
        for _ in range(self.num_iterations):
            hidden = self.cell(complex_to_channels(image), hidden)
            image = image + channels_to_complex(self.convs(hidden))
            if not self.no_dc:
                image = image_data_consistency(image, masked_kspace, sensitivity_maps, mask,
                                               self.dc_weight, **self.fft_kw)
            estimates.append(image)
        return estimates
