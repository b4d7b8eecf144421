"""Learned coil-sensitivity estimation from the auto-calibration region (E2E VarNet)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.unet import NormUnet
from atommic_rec.physics import ifft2, rss_complex

__all__ = ["SensitivityNet", "center_mask"]


def center_mask(mask: torch.Tensor) -> torch.Tensor:
    """The fully sampled centre band of a column mask (the auto-calibration lines).

    The band is the run of sampled columns around ``W // 2`` on the middle row of the mask.

    Args:
        mask: Sampling mask (0/1), float [..., H or 1, W].

    Returns:
        A 0/1 float mask [..., 1, W] keeping only the centre band.
    """
    line = (mask[..., mask.shape[-2] // 2, :] > 0).to(torch.float32)
    w = line.shape[-1]
    c = w // 2
    right = torch.cumprod(line[..., c:], dim=-1).sum(-1, keepdim=True)
    left = torch.cumprod(line[..., :c].flip(-1), dim=-1).sum(-1, keepdim=True)
    idx = torch.arange(w, device=mask.device)
    band = (idx >= c - left) & (idx < c + right)
    return band.to(torch.float32).unsqueeze(-2)


class SensitivityNet(nn.Module):
    """Estimate coil maps: ACS-only k-space -> coil images -> NormUnet per coil -> unit RSS.

    Args:
        chans: Channels of the NormUnet's first level.
        num_pools: Pooling levels of the NormUnet.
        mask_center: Keep only the auto-calibration lines before the inverse FFT.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
    """

    def __init__(self, chans: int = 8, num_pools: int = 4, mask_center: bool = True,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.norm_unet = NormUnet(chans, num_pools)
        self.mask_center = mask_center
        self.fft_kw = dict(fft_kw or {})

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked k-space complex64 [B, C, H, W] and mask -> maps complex64 [B, C, H, W]."""
        kspace = masked_kspace * center_mask(mask) if self.mask_center else masked_kspace
        coil_images = ifft2(kspace, **self.fft_kw)
        b, c, h, w = coil_images.shape
        maps = at_least_complex64(self.norm_unet(coil_images.reshape(b * c, h, w)))
        maps = maps.reshape(b, c, h, w)
        norm = rss_complex(maps, dim=1).unsqueeze(1).clamp_min(1e-12)
        return maps / norm
