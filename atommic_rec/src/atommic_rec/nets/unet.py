"""U-Net and normalised U-Net (complex images as two real channels), written once for all models.

The architecture follows the fastMRI U-Net (Ronneberger et al., 2015; Zbontar et al., 2018):
two 3x3 convolutions per level with instance norm and LeakyReLU(0.2), average-pool down,
transpose-convolution up, a final 1x1 convolution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from atommic_rec.physics import channels_to_complex, complex_to_channels

__all__ = ["NCHW_MIN_CHANNELS", "ConvBlock", "InstanceNorm2d", "NormUnet", "Unet", "global_phase"]

# Levels with at least this many channels run NCHW (oneDNN on CPUs; see ``Unet``).
NCHW_MIN_CHANNELS = 512

# ``conv_layer(in_chans, out_chans, kernel_size, **kwargs)``, a drop-in for ``nn.Conv2d`` (e.g.
# the multi-domain convolutions of MultiDomainNet); the same for the transposed convolutions.
ConvLayer = Callable[..., nn.Module]


def global_phase(image: torch.Tensor) -> torch.Tensor:
    """Unit phasor ``e^{i a}`` of the complex sum of each image (detached); 1 where it is ~0.

    Args:
        image: Complex ``[N, H, W]``.

    Returns:
        Complex ``[N, 1, 1]`` of modulus 1 (same dtype as ``image``).
    """
    image = image.detach()
    total = image.sum(dim=(-2, -1), keepdim=True)
    modulus = total.abs()
    # ~0: the sum cancels to rounding level of the summed magnitudes (or the image is empty)
    defined = modulus > 1e-6 * image.abs().sum(dim=(-2, -1), keepdim=True)
    return torch.where(defined, total / modulus.clamp_min(torch.finfo(modulus.dtype).tiny),
                       torch.ones_like(total))


class InstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (no affine, no running stats) that keeps NHWC tensors NHWC.

    PyTorch's instance norm folds the batch into the channels, which copies a channels-last
    input to NCHW and back (and the next convolution converts again). For one sample, instance
    norm *is* training-mode batch norm, whose CPU kernel runs on NHWC in place: the same
    values (to float rounding), no layout copies. Larger batches take the usual path. Same
    state dict (none) as ``nn.InstanceNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> normalised per sample and channel over (H, W)."""
        if x.shape[0] == 1 and not self.affine and not self.track_running_stats:
            return F.batch_norm(x, None, None, training=True, eps=self.eps)
        return super().forward(x)


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by instance norm, LeakyReLU(0.2) and dropout.

    Args:
        in_chans: Input channels.
        out_chans: Output channels.
        drop_prob: Dropout2d probability.
        conv_layer: Convolution class (``nn.Conv2d`` signature).
    """

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float = 0.0,
                 conv_layer: ConvLayer = nn.Conv2d) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in in (in_chans, out_chans):
            layers += [conv_layer(c_in, out_chans, 3, padding=1, bias=False),
                       InstanceNorm2d(out_chans),
                       nn.LeakyReLU(0.2, inplace=True)]
            if drop_prob > 0:
                layers.append(nn.Dropout2d(drop_prob))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_chans, H, W] float -> [N, out_chans, H, W]."""
        return self.layers(x)


class _UpBlock(nn.Module):
    """Transpose convolution (x2), instance norm, LeakyReLU(0.2)."""

    def __init__(self, in_chans: int, out_chans: int,
                 transpose_layer: ConvLayer = nn.ConvTranspose2d) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            transpose_layer(in_chans, out_chans, 2, stride=2, bias=False),
            InstanceNorm2d(out_chans),
            nn.LeakyReLU(0.2, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Unet(nn.Module):
    """The fastMRI U-Net on real channel stacks.

    Args:
        in_chans: Input channels.
        out_chans: Output channels.
        chans: Channels of the first level (doubled at each pooling).
        num_pools: Number of down/up-sampling levels.
        drop_prob: Dropout probability.
        channels_last: Run the levels narrower than ``NCHW_MIN_CHANNELS`` in NHWC memory
            layout (weights and activations), the wider ones in NCHW. Same results; on CPUs
            (oneDNN) NHWC is faster for few channels and NCHW for many (measured per
            convolution, forward and backward, 1 thread: 1024 channels at 8x8 0.75x the NHWC
            time, at 20x20 0.83x; 512 at 40x40 0.87x; 64 at 128x128 NHWC 0.7x NCHW's), and
            NCHW weights spare the copy of each large weight gradient into NHWC. False: NCHW.
        conv_layer: The 3x3 convolution of every level (``nn.Conv2d`` signature).
        transpose_layer: The up-sampling convolution (``nn.ConvTranspose2d`` signature).

    Example:
        >>> net = Unet(2, 2, chans=4, num_pools=2)
        >>> net(torch.zeros(1, 2, 16, 16)).shape
        torch.Size([1, 2, 16, 16])
    """

    def __init__(self, in_chans: int, out_chans: int, chans: int = 32, num_pools: int = 4,
                 drop_prob: float = 0.0, channels_last: bool = True,
                 conv_layer: ConvLayer = nn.Conv2d,
                 transpose_layer: ConvLayer = nn.ConvTranspose2d) -> None:
        super().__init__()
        if num_pools < 1 or chans < 1:
            raise ValueError(f"Unet: expected chans >= 1 and num_pools >= 1, found chans={chans}, "
                             f"num_pools={num_pools}")
        self.num_pools = num_pools
        def block(c_in: int, c_out: int) -> ConvBlock:
            return ConvBlock(c_in, c_out, drop_prob, conv_layer)

        self.down = nn.ModuleList([block(in_chans, chans)])
        ch = chans
        for _ in range(num_pools - 1):
            self.down.append(block(ch, ch * 2))
            ch *= 2
        self.bottleneck = block(ch, ch * 2)
        self.up_transpose = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for _ in range(num_pools - 1):
            self.up_transpose.append(_UpBlock(ch * 2, ch, transpose_layer))
            self.up_conv.append(block(ch * 2, ch))
            ch //= 2
        self.up_transpose.append(_UpBlock(ch * 2, ch, transpose_layer))
        self.up_conv.append(nn.Sequential(block(ch * 2, ch),
                                          nn.Conv2d(ch, out_chans, 1)))
        for level in (*self.down, self.bottleneck, *self.up_transpose, *self.up_conv):
            level.memory_format = _level_format(level) if channels_last else \
                torch.contiguous_format
            level.to(memory_format=level.memory_format)

    @staticmethod
    def _layout(level: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=level.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_chans, H, W] float -> [N, out_chans, H, W] (any H, W; odd sizes are padded)."""
        skips = []
        out = x
        for block in self.down:
            out = block(self._layout(block, out))
            skips.append(out)
            out = F.avg_pool2d(out, 2)
        out = self.bottleneck(self._layout(self.bottleneck, out))
        for up, conv in zip(self.up_transpose, self.up_conv, strict=True):
            skip = skips.pop()
            out = up(self._layout(up, out))
            pad_w, pad_h = skip.shape[-1] - out.shape[-1], skip.shape[-2] - out.shape[-2]
            if pad_w or pad_h:
                out = F.pad(out, [0, pad_w, 0, pad_h], mode="reflect")
            out = conv(self._layout(conv, torch.cat([out, skip], dim=1)))
        return out.contiguous()


def _level_format(level: nn.Module) -> torch.memory_format:
    """NCHW for a level whose widest 4-D weight has ``NCHW_MIN_CHANNELS`` channels, else NHWC."""
    widest = max((max(p.shape[:2]) for p in level.parameters() if p.dim() == 4), default=0)
    return torch.contiguous_format if widest >= NCHW_MIN_CHANNELS else torch.channels_last


class NormUnet(nn.Module):
    """A U-Net on complex images: split into real/imag channels, normalise, pad, run, undo.

    The real and imaginary parts are normalised separately (mean/std per sample, over all
    complex channels), the image is padded to a multiple of ``2**num_pools`` and the result is
    un-normalised, as in fastMRI's ``NormUnet``.

    With ``phase_equivariant``, the image is first rotated by the conjugate of its global phase
    ``e^{i a}``, ``a = angle(sum x)`` (detached; 0 when the sum vanishes), and the output is
    rotated back: ``R(e^{i phi} x) = e^{i phi} R(x)`` exactly, for any weights. MR images have
    an arbitrary global phase (the physics is invariant to it), so the network never has to
    learn that invariance from data; with linear data consistency an unrolled model built on it
    (VarNet) is equivariant as a whole.

    Args:
        chans: Channels of the first U-Net level.
        num_pools: Number of pooling levels.
        drop_prob: Dropout probability.
        normalize: Normalise the input (and un-normalise the output).
        zero_init: Start the last 1x1 convolution at zero, so the U-Net first outputs the
            input mean (an unrolled model then starts close to its data-consistency steps).
        phase_equivariant: Remove the global phase before the U-Net and restore it after.
        in_chans: Complex input channels (1: images ``[N, H, W]``; more: ``[N, in_chans, H,
            W]``, e.g. the buffers of primal-dual networks).
        out_chans: Complex output channels (None: ``in_chans``); the output is ``[N, H, W]``
            only when both are 1.

    Example:
        >>> net = NormUnet(chans=4, num_pools=2)
        >>> net(torch.zeros(3, 10, 12, dtype=torch.complex64)).shape
        torch.Size([3, 10, 12])
        >>> stack = NormUnet(4, 2, in_chans=3, out_chans=2)
        >>> stack(torch.zeros(1, 3, 8, 8, dtype=torch.complex64)).shape
        torch.Size([1, 2, 8, 8])
    """

    def __init__(self, chans: int = 18, num_pools: int = 4, drop_prob: float = 0.0,
                 normalize: bool = True, zero_init: bool = False,
                 phase_equivariant: bool = False, in_chans: int = 1,
                 out_chans: int | None = None) -> None:
        super().__init__()
        self.phase_equivariant = bool(phase_equivariant)
        self.in_chans = int(in_chans)
        self.out_chans = int(out_chans or in_chans)
        self.unet = Unet(2 * self.in_chans, 2 * self.out_chans, chans=chans, num_pools=num_pools,
                         drop_prob=drop_prob)
        if zero_init:
            last = self.unet.up_conv[-1][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.normalize = normalize
        self.multiple = 2**num_pools

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex [N, H, W] or [N, in_chans, H, W] -> complex [N, H, W] or [N, out_chans, H, W]."""
        if not image.is_complex():
            raise ValueError(f"NormUnet: expected a complex image [N, H, W], found {image.dtype}")
        single = image.ndim == 3
        stack = image.unsqueeze(1) if single else image
        if stack.ndim != 4 or stack.shape[1] != self.in_chans:
            raise ValueError(f"NormUnet: expected complex [N, {self.in_chans}, H, W] (or [N, H, W] "
                             f"for one channel), found shape {tuple(image.shape)}")
        if self.phase_equivariant:
            rotation = global_phase(stack.sum(1)).unsqueeze(1)
            out = self._run(stack * rotation.conj()) * rotation
        else:
            out = self._run(stack)
        return out.squeeze(1) if single and self.out_chans == 1 else out

    def _run(self, image: torch.Tensor) -> torch.Tensor:
        x = complex_to_channels(image)  # [N, C, 2, H, W] float
        if self.normalize:
            mean = x.mean(dim=(1, -2, -1), keepdim=True)
            std = x.std(dim=(1, -2, -1), keepdim=True) + 1e-6
            x = (x - mean) / std
        x = x.flatten(1, 2)
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        x = self.unet(x)
        if ph or pw:
            x = x[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]
        x = x.unflatten(1, (self.out_chans, 2))
        if self.normalize:
            x = x * std + mean
        return channels_to_complex(x.float().contiguous())
