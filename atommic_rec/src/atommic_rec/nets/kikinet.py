"""KIKI-net: cross-domain CNNs alternating k-space and image space (Eo et al., MRM 2018).

Reference: T. Eo, Y. Jun, T. Kim, J. Jang, H.-J. Lee and D. Hwang, "KIKI-net: cross-domain
convolutional neural networks for reconstructing undersampled magnetic resonance images",
Magn. Reson. Med. 80(5), 2188-2201, 2018, doi:10.1002/mrm.27201. Multi-coil here: the k-space
network runs on every coil, the image network on the SENSE-combined image.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.image_dc import image_data_consistency
from atommic_rec.nets.unet import NormUnet
from atommic_rec.physics import fft2, ifft2, sense_expand, sense_reduce

__all__ = ["KIKINetNet"]


class KIKINetNet(nn.Module):
    """``num_iter`` (k-space CNN, image CNN, data consistency) blocks.

    Block ``i``: ``k <- k + K_i(k)`` (each coil's k-space), ``x = S^H F^-1 k``,
    ``z = x + I_i(x)``, then ``x <- S^H F^-1 (F S z - w M (F S z - y))`` and ``k = F S x``
    (interleaved data consistency, :func:`~atommic_rec.nets.image_dc.image_data_consistency`;
    ``w = 1`` is the hard form), from ``k = y``. ``K_i`` and ``I_i`` are NormUnets; both
    updates are residual, as the paper's ICNN.

    Args:
        num_iter: Number of k-space/image blocks.
        kspace_chans: NormUnet channels of the k-space networks.
        kspace_pools: NormUnet pooling levels of the k-space networks.
        image_chans: NormUnet channels of the image networks.
        image_pools: NormUnet pooling levels of the image networks.
        share_weights: One k-space and one image network for all blocks, as ATOMMIC 1.0.1
            builds them (its reference parameter count); the paper trains separate ones.
        no_dc: Skip the data-consistency steps.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        zero_init: Zero the last convolution of every NormUnet.
        phase_equivariant: Phase-equivariant NormUnets (then the whole network is equivariant
            to a global phase of the data).

    Example:
        >>> net = KIKINetNet(num_iter=2, kspace_chans=4, image_chans=4)
        >>> k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 8, 8, dtype=torch.complex64) / 2**0.5
        >>> net(k, s, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_iter: int = 2, kspace_chans: int = 16, kspace_pools: int = 2,
                 image_chans: int = 16, image_pools: int = 2, share_weights: bool = False,
                 no_dc: bool = False, fft_kw: dict[str, Any] | None = None,
                 zero_init: bool = False, phase_equivariant: bool = False) -> None:
        super().__init__()
        if num_iter < 1:
            raise ValueError(f"KIKINetNet: expected num_iter >= 1, found {num_iter}")
        nets = 1 if share_weights else num_iter
        kw = {"zero_init": zero_init, "phase_equivariant": phase_equivariant}
        self.kspace_nets = nn.ModuleList(NormUnet(kspace_chans, kspace_pools, **kw)
                                         for _ in range(nets))
        self.image_nets = nn.ModuleList(NormUnet(image_chans, image_pools, **kw)
                                        for _ in range(nets))
        self.dc_weight = nn.Parameter(torch.ones(1))
        self.num_iter = int(num_iter)
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
            The image after the last block, complex64 [B, H, W].
        """
        kspace = masked_kspace = at_least_complex64(masked_kspace)
        for i in range(self.num_iter):
            net = i % len(self.kspace_nets)
            kspace = kspace + self.kspace_nets[net](kspace.flatten(0, 1)).view_as(kspace)
            image = sense_reduce(ifft2(kspace, **self.fft_kw), sensitivity_maps)
            image = image + self.image_nets[net](image)
            if not self.no_dc:
                image = image_data_consistency(image, masked_kspace, sensitivity_maps, mask,
                                               self.dc_weight, **self.fft_kw)
            if i < self.num_iter - 1:
                kspace = fft2(sense_expand(image, sensitivity_maps), **self.fft_kw)
        return image
