"""Building blocks shared by the coil-image models (IDSLR, IDSLRUNet, SegNet).

REC's fastMRI U-Net (:class:`atommic_rec.nets.Unet`) is split into an encoder and decoders
so that one encoder can feed a reconstruction decoder and a segmentation decoder (the
shared-encoder design of Sun et al. 2019 and Pramanik and Jacob 2021). The parts are REC's
own modules (their ``down``/``bottleneck`` and ``up_transpose``/``up_conv`` lists), run in
the order REC's ``Unet.forward`` runs them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from atommic_rec.nets import Unet
from atommic_rec.physics import channels_to_complex, complex_to_channels

__all__ = ["UnetDecoder", "UnetEncoder", "WeightedDataConsistency", "coil_channels",
           "from_coil_channels", "pad_to_multiple", "unpad"]


def coil_channels(images: torch.Tensor) -> torch.Tensor:
    """Complex coil images ``[B, C, H, W]`` -> real ``[B, 2C, H, W]`` (re, im per coil)."""
    return complex_to_channels(images).flatten(1, 2)


def from_coil_channels(x: torch.Tensor) -> torch.Tensor:
    """Real ``[B, 2C, H, W]`` -> complex64 coil images ``[B, C, H, W]``."""
    return channels_to_complex(x.float().unflatten(1, (x.shape[1] // 2, 2)).contiguous())


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Zero-pad the last two dims to multiples of ``multiple`` (centred).

    Returns:
        The padded tensor and the padding ``(left, right, top, bottom)`` for :func:`unpad`.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    return (F.pad(x, pad) if ph or pw else x), pad


def unpad(x: torch.Tensor, pad: tuple[int, ...]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`."""
    left, right, top, bottom = pad
    return x[..., top: x.shape[-2] - bottom, left: x.shape[-1] - right]


class UnetEncoder(nn.Module):
    """The down path and bottleneck of REC's U-Net; returns every level's features.

    Args:
        in_chans: Input channels.
        chans: Channels of the first level (doubled at each pooling).
        num_pools: Pooling levels.
        drop_prob: Dropout probability.
    """

    def __init__(self, in_chans: int, chans: int, num_pools: int,
                 drop_prob: float = 0.0) -> None:
        super().__init__()
        unet = Unet(in_chans, 1, chans, num_pools, drop_prob)
        self.down, self.bottleneck = unet.down, unet.bottleneck
        self.multiple = 2**num_pools

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[N, in_chans, H, W]`` (multiples of ``2**num_pools``) -> features, bottleneck last."""
        features = []
        out = x.contiguous(memory_format=torch.channels_last)
        for block in self.down:
            out = block(out)
            features.append(out)
            out = F.avg_pool2d(out, 2)
        features.append(self.bottleneck(out))
        return features


class UnetDecoder(nn.Module):
    """The up path of REC's U-Net, on the features of a :class:`UnetEncoder`.

    Args:
        out_chans: Output channels.
        chans: Channels of the encoder's first level.
        num_pools: Pooling levels of the encoder.
        drop_prob: Dropout probability.
    """

    def __init__(self, out_chans: int, chans: int, num_pools: int,
                 drop_prob: float = 0.0) -> None:
        super().__init__()
        unet = Unet(1, out_chans, chans, num_pools, drop_prob)
        self.up_transpose, self.up_conv = unet.up_transpose, unet.up_conv

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Encoder features -> ``[N, out_chans, H, W]`` at the finest level's size."""
        out, skips = features[-1], features[:-1]
        for up, conv, skip in zip(self.up_transpose, self.up_conv, reversed(skips), strict=True):
            out = up(out)
            pad_w, pad_h = skip.shape[-1] - out.shape[-1], skip.shape[-2] - out.shape[-2]
            if pad_w or pad_h:
                out = F.pad(out, [0, pad_w, 0, pad_h], mode="reflect")
            out = conv(torch.cat([out, skip], dim=1))
        return out.contiguous()


class WeightedDataConsistency(nn.Module):
    """Weighted data consistency in k-space: ``k <- (y + w k) / (M + w)``, ``w > 0`` learned.

    Sampled locations become the weighted average ``(y + w k) / (1 + w)`` of measurement and
    estimate; unsampled ones keep the estimate (``w k / w``). This is the proximal step of
    ``||M k - y||^2 + w ||k - k_net||^2`` used by IDSLR (Pramanik and Jacob 2021) and
    SegNet's unrolled model (Sun et al. 2019); ``w`` is kept positive (``|w| + 1e-6``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(self, kspace: torch.Tensor, masked_kspace: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Estimate and measurement complex64 ``[B, C, H, W]``, mask broadcastable -> k-space."""
        weight = self.dc_weight.abs() + 1e-6
        return (masked_kspace + weight * kspace) / (mask + weight)


def pad_coils(masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
              num_coils: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Append all-zero coils up to ``num_coils`` (coil-image networks have fixed channels).

    Zero coils add nothing to SENSE combinations or data consistency.

    Raises:
        ValueError: The data have more coils than the network.
    """
    coils = masked_kspace.shape[1]
    if coils > num_coils:
        raise ValueError(f"expected at most num_coils={num_coils} coils (the network's input "
                         f"channels are 2 per coil); found {coils}; hint: set "
                         f"model.num_coils={coils}")
    if coils == num_coils:
        return masked_kspace, sensitivity_maps
    pad = [0, 0, 0, 0, 0, num_coils - coils]
    return (torch.nn.functional.pad(masked_kspace, pad),
            torch.nn.functional.pad(sensitivity_maps, pad))


class CoilUnet(nn.Module):
    """Coil images -> REC's U-Net encoder -> reconstruction decoder -> coil images.

    The real/imaginary channels are normalised per sample (mean and standard deviation of
    the real and of the imaginary parts, as ATOMMIC's two-group norm) and padded to the
    U-Net's size multiple; the decoder output is un-normalised and cropped back.

    Args:
        num_coils: Coils (input and output channels are ``2 * num_coils``).
        chans: U-Net channels of the first level.
        num_pools: Pooling levels.
        drop_prob: Dropout probability.
        normalize: Normalise the input (and un-normalise the output).
        residual: Add the input coil images to the output.
    """

    def __init__(self, num_coils: int, chans: int = 32, num_pools: int = 4,
                 drop_prob: float = 0.0, normalize: bool = True, residual: bool = True) -> None:
        super().__init__()
        self.encoder = UnetEncoder(2 * num_coils, chans, num_pools, drop_prob)
        self.decoder = UnetDecoder(2 * num_coils, chans, num_pools, drop_prob)
        self.normalize, self.residual = normalize, residual

    def encode(self, images: torch.Tensor) -> tuple[list[torch.Tensor], tuple]:
        """Coil images complex ``[B, C, H, W]`` -> (encoder features, state for decoding)."""
        x = complex_to_channels(images).float()  # [B, C, 2, H, W]
        mean = x.mean(dim=(1, 3, 4), keepdim=True) if self.normalize else None
        std = x.std(dim=(1, 3, 4), keepdim=True) + 1e-6 if self.normalize else None
        if self.normalize:
            x = (x - mean) / std
        x, pad = pad_to_multiple(x.flatten(1, 2), self.encoder.multiple)
        return self.encoder(x), (pad, mean, std)

    def decode(self, features: list[torch.Tensor], state: tuple,
               images: torch.Tensor) -> torch.Tensor:
        """Features -> refined coil images complex64 ``[B, C, H, W]``."""
        pad, mean, std = state
        x = unpad(self.decoder(features), pad).float().unflatten(1, (images.shape[1], 2))
        if self.normalize:
            x = x * std + mean
        out = channels_to_complex(x.contiguous())
        return out + images if self.residual else out
