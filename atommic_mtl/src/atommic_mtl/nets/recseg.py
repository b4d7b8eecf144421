"""RecSegUNet: a reconstruction U-Net followed by a segmentation U-Net, trained jointly.

Reference: B. Sui, J. Lv, X. Tong, Y. Li, C. Wang, "Simultaneous image reconstruction and
lesion segmentation in accelerated MRI using multitasking learning", Medical Physics 48
(2021) 7189-7198, doi:10.1002/mp.15213.
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_mtl.nets.parts import pad_to_multiple, unpad
from atommic_rec.nets import NormUnet
from atommic_seg.nets import UNetND

__all__ = ["RecSegUNetNet"]


class RecSegUNetNet(nn.Module):
    """``x = R(x0)``, ``s = S(|x|)``: a reconstruction U-Net, then a segmentation U-Net.

    ``R`` is REC's :class:`~atommic_rec.nets.NormUnet` on the zero-filled image ``x0``, ``S``
    SEG's :class:`~atommic_seg.nets.UNetND` on the magnitude of its output.

    The segmentation loss reaches the reconstruction U-Net through ``|x|``, which is what
    makes the two tasks one model.

    Args:
        num_classes: Segmentation classes.
        reconstruction_channels: Reconstruction U-Net channels of the first level.
        reconstruction_pools: Its pooling levels.
        segmentation_channels: Segmentation U-Net channels of the first level.
        segmentation_pools: Its pooling levels.
        dropout: Dropout of both U-Nets.
        phase_equivariant: REC's phase-equivariant :class:`~atommic_rec.nets.NormUnet`
            (reconstructions rotate with a global phase of ``x0``, labels do not change).

    Example:
        >>> net = RecSegUNetNet(3, 4, 2, 4, 2)
        >>> recon, logits = net(torch.ones(1, 10, 12, dtype=torch.complex64))
        >>> recon.shape, logits.shape
        (torch.Size([1, 10, 12]), torch.Size([1, 3, 10, 12]))
    """

    def __init__(self, num_classes: int, reconstruction_channels: int = 32,
                 reconstruction_pools: int = 4, segmentation_channels: int = 32,
                 segmentation_pools: int = 4, dropout: float = 0.0,
                 phase_equivariant: bool = False) -> None:
        super().__init__()
        self.reconstruction = NormUnet(reconstruction_channels, reconstruction_pools, dropout,
                                       phase_equivariant=phase_equivariant)
        self.segmentation = UNetND(2, 1, num_classes, channels=segmentation_channels,
                                   num_pool_layers=segmentation_pools, dropout=dropout)
        self.multiple = 2**segmentation_pools

    def forward(self, initial_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-filled image complex64 ``[B, H, W]`` -> (reconstruction, logits)."""
        recon = self.reconstruction(initial_image)
        x, pad = pad_to_multiple(recon.abs().unsqueeze(1), self.multiple)
        return recon, unpad(self.segmentation(x), pad)
