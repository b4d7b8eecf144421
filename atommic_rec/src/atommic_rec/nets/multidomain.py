"""Multi-domain U-Net on coil images (ATOMMIC's/DIRECT's ``MultiDomainNet``).

Every convolution of the U-Net is a multi-domain convolution: half of its output channels
come from a convolution of the feature maps in image space, half from a convolution of their
Fourier transforms in k-space, transformed back. ATOMMIC 1.0.1 names no paper for the model;
the issue attributes it to Fabian et al. (2022).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.unet import Unet
from atommic_rec.physics import (
    channels_to_complex,
    complex_to_channels,
    fft2,
    ifft2,
    sense_expand,
    sense_reduce,
)

__all__ = ["MultiDomainConv2d", "MultiDomainNetNet"]


def _fourier(x: torch.Tensor, transform: Any, fft_kw: dict[str, Any]) -> torch.Tensor:
    """Transform real channels, read as (real, imag) pairs, with ``fft2`` or ``ifft2``."""
    z = channels_to_complex(x.unflatten(1, (-1, 2)).contiguous())
    return complex_to_channels(transform(z, **fft_kw)).flatten(1, 2)


class MultiDomainConv2d(nn.Module):
    """``y = [conv_I(x), F^-1 conv_K(F x)]``: image and k-space convolutions, half each.

    ``F`` acts on channel pairs ``(2j, 2j + 1)`` read as one complex image; ``conv_I`` and
    ``conv_K`` have the given signature with ``out_chans / 2`` outputs, so the layer counts the
    parameters of one ``out_chans`` convolution.

    Args:
        in_chans: Input channels (even).
        out_chans: Output channels (a multiple of 4).
        kernel_size: Kernel size.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        transpose: Use transposed convolutions (the U-Net's up-sampling).
        **conv_kwargs: ``padding``, ``stride``, ``bias`` of the convolutions.
    """

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int,
                 fft_kw: dict[str, Any] | None = None, transpose: bool = False,
                 **conv_kwargs: Any) -> None:
        super().__init__()
        if in_chans % 2 or out_chans % 4:
            raise ValueError(f"MultiDomainConv2d: expected even in_chans and out_chans divisible "
                             f"by 4 (complex channel pairs per domain), found {in_chans}, "
                             f"{out_chans}; hint: use an even num_filters")
        conv = nn.ConvTranspose2d if transpose else nn.Conv2d
        self.image_conv = conv(in_chans, out_chans // 2, kernel_size, **conv_kwargs)
        self.kspace_conv = conv(in_chans, out_chans // 2, kernel_size, **conv_kwargs)
        self.fft_kw = dict(fft_kw or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_chans, H, W] float -> [N, out_chans, H', W']."""
        kspace = self.kspace_conv(_fourier(x, fft2, self.fft_kw))
        return torch.cat([self.image_conv(x), _fourier(kspace, ifft2, self.fft_kw)], dim=1)


class MultiDomainNetNet(nn.Module):
    """A multi-domain U-Net applied to every coil image, then SENSE-combined.

    With coil images ``u_c = F^-1 y_c`` and ``x = sum_c conj(S_c) u_c``, the U-Net ``R`` sees
    ``[x, u_c - S_c x]`` (``standardization``; the coil's part not explained by the SENSE
    model) or ``u_c``, and the output is ``sum_c conj(S_c) R_c``. There is no data consistency,
    as in ATOMMIC. ATOMMIC 1.0.1's standardization feeds ``x - S_c x`` instead of
    ``u_c - S_c x``, which does not depend on the coil image at all.

    Args:
        num_filters: Channels of the first U-Net level (even).
        num_pools: U-Net pooling levels.
        drop_prob: Dropout probability.
        standardization: Feed ``[x, u_c - S_c x]`` instead of ``u_c``.
        residual: Predict a correction of the coil images, ``sum_c conj(S_c) (u_c + s R_c)``,
            ``R`` seeing its input divided by ``s`` (the input's standard deviation per sample,
            so the network is blind to the data's scale) and its last layer starting at zero,
            so the network starts at the zero-filled SENSE image (not in ATOMMIC, whose U-Net
            must learn the image scale from scratch: after 700 demo steps that version still
            scored below zero-filled). Pair it with ``standardization=False``: ``R_c`` must
            carry coil ``c``'s sensitivity weighting, which ``u_c`` shows and ``[x, u_c - S_c
            x]`` hides (with it, the demo model stayed at zero-filled on held-out data).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = MultiDomainNetNet(num_filters=4, num_pools=2)
        >>> k = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(k, torch.ones_like(k) / 2**0.5).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_filters: int = 64, num_pools: int = 2, drop_prob: float = 0.0,
                 standardization: bool = True, residual: bool = False,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.fft_kw = dict(fft_kw or {})
        layer = partial(MultiDomainConv2d, fft_kw=self.fft_kw)
        self.unet = Unet(4 if standardization else 2, 2, num_filters, num_pools, drop_prob,
                         channels_last=False, conv_layer=layer,
                         transpose_layer=partial(layer, transpose=True))
        self.standardization = standardization
        self.residual = bool(residual)
        if self.residual:
            for p in self.unet.up_conv[-1][-1].parameters():
                nn.init.zeros_(p)

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct the coil-combined image.

        Args:
            masked_kspace: Measured k-space, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps, complex64 [B, C, H, W].
            mask: Unused (the network has no data consistency); kept for a uniform call.

        Returns:
            The SENSE-combined output, complex64 [B, H, W].
        """
        coils = ifft2(at_least_complex64(masked_kspace), **self.fft_kw)
        if self.standardization:
            combined = sense_reduce(coils, sensitivity_maps)
            residual = coils - sense_expand(combined, sensitivity_maps)
            stack = torch.stack([combined.unsqueeze(1).expand_as(coils), residual], dim=2)
        else:
            stack = coils.unsqueeze(2)
        x = complex_to_channels(stack.flatten(0, 1)).flatten(1, 2)  # [B*C, channels, H, W]
        if not self.residual:
            out = self.unet(x)
            return sense_reduce(channels_to_complex(out.float().contiguous()).view_as(coils),
                                sensitivity_maps)
        # one scale per sample (over its coils and channels), so R never sees the data's scale
        scale = x.unflatten(0, coils.shape[:2]).std(dim=(1, 2, 3, 4), keepdim=True) + 1e-12
        scale = scale.expand(-1, coils.shape[1], -1, -1, -1).flatten(0, 1)
        out = self.unet(x / scale) * scale
        correction = channels_to_complex(out.float().contiguous()).view_as(coils)
        return sense_reduce(coils + correction, sensitivity_maps)
