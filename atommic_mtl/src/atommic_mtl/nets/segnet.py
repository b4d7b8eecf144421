"""SegNet: unrolled reconstruction cascades, each with a segmentation decoder, fused at the end.

Reference: L. Sun, Z. Fan, X. Ding, Y. Huang, J. Paisley, "Joint CS-MRI Reconstruction and
Segmentation with a Unified Deep Network", IPMI 2019, LNCS 11492, 492-504,
doi:10.1007/978-3-030-20351-1_38 (SegNetMRI).
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_mtl.nets.parts import (
    CoilUnet,
    UnetDecoder,
    WeightedDataConsistency,
    pad_coils,
    unpad,
)
from atommic_rec.nets import ConvNonlinear, at_least_complex64
from atommic_rec.physics import fft2, ifft2, sense_reduce

__all__ = ["SegNetNet"]


class SegNetNet(nn.Module):
    """Cascades of (encoder, reconstruction decoder, segmentation decoder, data consistency).

    The final segmentation is a convolution over the outputs of every cascade's decoder.

    Each cascade encodes the current coil images, decodes a refined image (then data
    consistency in k-space) and, from the same features, a segmentation; the final
    segmentation fuses the ``num_cascades`` segmentations with a 3x3 convolution (SegNetMRI's
    segmentation fusion). Cascades do not share weights.

    Args:
        num_classes: Segmentation classes.
        num_coils: Coils of the network input (fewer coils are zero-padded).
        num_cascades: Unrolled cascades.
        chans: U-Net channels of the first level.
        num_pools: Pooling levels.
        drop_prob: Dropout probability.
        normalize: Normalise each encoder's input.
        residual: Add the input coil images to each reconstruction decoder's output
            (ATOMMIC's SegNet does not).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
    """

    def __init__(self, num_classes: int, num_coils: int, num_cascades: int = 5, chans: int = 32,
                 num_pools: int = 4, drop_prob: float = 0.0, normalize: bool = True,
                 residual: bool = False, fft_kw: dict | None = None) -> None:
        super().__init__()
        self.reconstruction = nn.ModuleList(
            CoilUnet(num_coils, chans, num_pools, drop_prob, normalize, residual)
            for _ in range(num_cascades))
        self.segmentation = nn.ModuleList(UnetDecoder(num_classes, chans, num_pools, drop_prob)
                                          for _ in range(num_cascades))
        self.dc = WeightedDataConsistency()
        self.fusion = ConvNonlinear(num_classes * num_cascades, num_classes, 3, bias=False,
                                    relu=False)
        self.num_coils = num_coils
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Reconstruct and segment.

        Args:
            masked_kspace: complex64 ``[B, C, H, W]``.
            sensitivity_maps: complex64 ``[B, C, H, W]``.
            mask: float, broadcastable to ``[B, C, H, W]``.

        Returns:
            The SENSE-combined image after every cascade (complex ``[B, H, W]``) and the
            logits of every cascade followed by the fused logits, ``[B, K, H, W]`` each.
        """
        y, maps = pad_coils(at_least_complex64(masked_kspace), sensitivity_maps, self.num_coils)
        kspace, recons, segs = y, [], []
        for reconstruction, segmentation in zip(self.reconstruction, self.segmentation,
                                                strict=True):
            images = ifft2(kspace, **self.fft_kw)
            features, state = reconstruction.encode(images)
            segs.append(unpad(segmentation(features), state[0]))
            kspace = self.dc(fft2(reconstruction.decode(features, state, images),
                                  **self.fft_kw), y, mask)
            recons.append(sense_reduce(ifft2(kspace, **self.fft_kw), maps))
        segs.append(self.fusion(torch.cat(segs, dim=1)))
        return recons, segs
