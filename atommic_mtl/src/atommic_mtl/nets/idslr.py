"""IDSLR and IDSLRUNet: image-domain deep structured low-rank reconstruction with segmentation.

Reference: A. Pramanik, X. Wu, M. Jacob, "Joint calibrationless reconstruction and
segmentation of parallel MRI", arXiv:2105.09220 (2021). The unrolled network alternates a
U-Net on the multi-coil images (the learned image-domain prior of the deep structured
low-rank model) with a weighted data-consistency step, sharing weights over iterations.
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_mtl.nets.parts import (
    CoilUnet,
    UnetDecoder,
    WeightedDataConsistency,
    pad_coils,
    pad_to_multiple,
    unpad,
)
from atommic_rec.nets import at_least_complex64
from atommic_rec.physics import fft2, ifft2, sense_reduce
from atommic_seg.nets import UNetND

__all__ = ["IDSLRNet", "IDSLRUNetNet"]


class IDSLRNet(nn.Module):
    """``num_iters`` x (``k <- DC(F (x + D_r(E(x))))``, ``x = F^-1 k``); then ``s = D_s(E(x))``.

    ``E`` is a U-Net encoder on the coil images, ``D_r`` its reconstruction decoder and
    ``D_s`` a segmentation decoder on the same features (IDSLR's shared encoder); DC is
    :class:`~atommic_mtl.nets.parts.WeightedDataConsistency`. The segmentation decodes the
    last iteration's features.

    Args:
        num_classes: Segmentation classes.
        num_coils: Coils of the network input (fewer coils are zero-padded).
        chans: U-Net channels of the first level.
        num_pools: Pooling levels.
        num_iters: Unrolled iterations (shared weights).
        drop_prob: Dropout probability.
        normalize: Normalise the U-Net input.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
    """

    def __init__(self, num_classes: int, num_coils: int, chans: int = 32, num_pools: int = 4,
                 num_iters: int = 5, drop_prob: float = 0.0, normalize: bool = True,
                 fft_kw: dict | None = None) -> None:
        super().__init__()
        self.reconstruction = CoilUnet(num_coils, chans, num_pools, drop_prob, normalize)
        self.segmentation = UnetDecoder(num_classes, chans, num_pools, drop_prob)
        self.dc = WeightedDataConsistency()
        self.num_coils, self.num_iters = num_coils, num_iters
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Reconstruct and segment.

        Args:
            masked_kspace: complex64 ``[B, C, H, W]``.
            sensitivity_maps: complex64 ``[B, C, H, W]``.
            mask: float, broadcastable to ``[B, C, H, W]``.

        Returns:
            The SENSE-combined image after every iteration (complex ``[B, H, W]``) and
            ``[logits]`` ``[B, K, H, W]``.
        """
        y, maps = pad_coils(at_least_complex64(masked_kspace), sensitivity_maps, self.num_coils)
        kspace, recons = y, []
        for _ in range(self.num_iters):
            images = ifft2(kspace, **self.fft_kw)
            features, state = self.reconstruction.encode(images)
            refined = self.reconstruction.decode(features, state, images)
            kspace = self.dc(fft2(refined, **self.fft_kw), y, mask)
            recons.append(sense_reduce(ifft2(kspace, **self.fft_kw), maps))
        logits = unpad(self.segmentation(features), state[0])
        return recons, [logits]


class IDSLRUNetNet(nn.Module):
    """IDSLR's unrolled reconstruction, segmented by a separate U-Net on the coil magnitudes.

    Pramanik and Jacob's variant with a full segmentation U-Net (SEG's
    :class:`~atommic_seg.nets.UNetND`, input ``|x_c|`` of the final coil images) instead of a
    decoder sharing the reconstruction encoder.

    Args:
        num_classes: Segmentation classes.
        num_coils: Coils of the network input.
        chans: Reconstruction U-Net channels.
        num_pools: Reconstruction U-Net pooling levels.
        num_iters: Unrolled iterations (shared weights).
        segmentation_channels: Segmentation U-Net channels.
        segmentation_pools: Segmentation U-Net pooling levels.
        drop_prob: Dropout probability.
        normalize: Normalise the reconstruction U-Net input.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
    """

    def __init__(self, num_classes: int, num_coils: int, chans: int = 32, num_pools: int = 4,
                 num_iters: int = 5, segmentation_channels: int = 32,
                 segmentation_pools: int = 4, drop_prob: float = 0.0, normalize: bool = True,
                 fft_kw: dict | None = None) -> None:
        super().__init__()
        self.reconstruction = CoilUnet(num_coils, chans, num_pools, drop_prob, normalize)
        self.segmentation = UNetND(2, num_coils, num_classes, channels=segmentation_channels,
                                   num_pool_layers=segmentation_pools, dropout=drop_prob)
        self.dc = WeightedDataConsistency()
        self.num_coils, self.num_iters = num_coils, num_iters
        self.multiple = 2**segmentation_pools
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Reconstruct and segment (arguments and returns as :meth:`IDSLRNet.forward`)."""
        y, maps = pad_coils(at_least_complex64(masked_kspace), sensitivity_maps, self.num_coils)
        kspace, recons = y, []
        for _ in range(self.num_iters):
            images = ifft2(kspace, **self.fft_kw)
            features, state = self.reconstruction.encode(images)
            kspace = self.dc(fft2(self.reconstruction.decode(features, state, images),
                                  **self.fft_kw), y, mask)
            recons.append(sense_reduce(ifft2(kspace, **self.fft_kw), maps))
        x, pad = pad_to_multiple(ifft2(kspace, **self.fft_kw).abs().float(), self.multiple)
        return recons, [unpad(self.segmentation(x), pad)]
