"""Deep cascade of convolutional neural networks (Schlemper et al., IEEE TMI 2018).

Reference: J. Schlemper, J. Caballero, J. V. Hajnal, A. N. Price and D. Rueckert, "A Deep
Cascade of Convolutional Neural Networks for Dynamic MR Image Reconstruction", IEEE Trans.
Med. Imaging 37(2), 491-503, 2018, arXiv:1704.02422 (IPMI 2017 for the 2D case).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.complex_channels import ComplexChannelNet, ConvStack
from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.image_dc import image_data_consistency
from atommic_rec.physics import ifft2, sense_reduce

__all__ = ["CascadeNetNet"]


class CascadeNetNet(nn.Module):
    """Cascades of a residual CNN followed by a data-consistency layer.

    Cascade ``i`` computes ``z = x + CNN_i(x)``, then
    ``x <- S^H F^-1 (k - w_i M (k - y))`` with ``k = F S z`` (see
    :func:`~atommic_rec.nets.image_dc.image_data_consistency`; ``w_i = 1`` is the hard
    data consistency of the paper, ``w_i = lam / (1 + lam)`` its noisy form), starting from
    the SENSE zero-filled image ``x = S^H F^-1 y``. Each CNN is ``n_convs`` 3x3 convolutions
    on the real/imaginary channels.

    One PReLU slope is shared by every layer of every cascade (1 parameter): ATOMMIC 1.0.1 does
    the same (through a default argument), so the reference configuration counts the same
    parameters.

    Args:
        num_cascades: Number of cascades.
        hidden_channels: Channels of the hidden convolutions.
        n_convs: Convolutions per cascade.
        batchnorm: Batch normalisation after each convolution.
        no_dc: Skip the data-consistency layers (the weights stay, unused).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = CascadeNetNet(num_cascades=2, hidden_channels=4, n_convs=3)
        >>> k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 8, 8, dtype=torch.complex64) / 2**0.5
        >>> net(k, s, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_cascades: int = 10, hidden_channels: int = 64, n_convs: int = 5,
                 batchnorm: bool = False, no_dc: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        if num_cascades < 1:
            raise ValueError(f"CascadeNetNet: expected num_cascades >= 1, found {num_cascades}")
        self.activation = nn.PReLU()
        self.cnns = nn.ModuleList(
            ComplexChannelNet(ConvStack(2, 2, hidden_channels, n_convs, self.activation,
                                        batchnorm))
            for _ in range(num_cascades))
        self.dc_weights = nn.Parameter(torch.ones(num_cascades))
        self.no_dc = no_dc
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct the coil-combined image.

        Args:
            masked_kspace: Measured k-space, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps, complex64 [B, C, H, W].
            mask: Sampling mask, float, broadcastable to [B, C, H, W].

        Returns:
            The image after the last cascade, complex64 [B, H, W].
        """
        masked_kspace = at_least_complex64(masked_kspace)
        image = sense_reduce(ifft2(masked_kspace, **self.fft_kw), sensitivity_maps)
        for cnn, weight in zip(self.cnns, self.dc_weights, strict=True):
            image = image + cnn(image.unsqueeze(1)).squeeze(1)
            if not self.no_dc:
                image = image_data_consistency(image, masked_kspace, sensitivity_maps, mask,
                                               weight, **self.fft_kw)
        return image
