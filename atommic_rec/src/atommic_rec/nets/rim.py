"""The recurrent inference machine block (Lonning et al., 2019), written once for RIM and CIRIM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from atommic_rec.nets._memory import release_cpu_memory
from atommic_rec.nets.consistency import at_least_complex64, log_likelihood_gradient
from atommic_rec.nets.recurrent import ConvNonlinear, build_recurrent_cell
from atommic_rec.physics import channels_to_complex, complex_to_channels

__all__ = ["RIMBlock"]


class RIMBlock(nn.Module):
    """One RIM: ``time_steps`` updates ``x <- x + g([x, A^H(Ax - y)], h)`` with a recurrent ``g``.

    ``g`` is a stack of (convolution + ReLU, recurrent cell) pairs followed by a final
    convolution with two output channels (real/imaginary update). The layer lists follow
    ATOMMIC's ``RIMBlock`` so that the same hyperparameters give the same parameter count.

    Args:
        recurrent_layer: ``IndRNN`` or ``GRU``.
        conv_filters: Output channels of each convolution; the last must be 2.
        conv_kernels: Kernel size of each convolution.
        conv_dilations: Dilation of each convolution.
        conv_bias: Bias flag of each convolution.
        recurrent_filters: Hidden channels of the cell after each convolution (0 = none; the
            last must be 0).
        recurrent_kernels: Kernel size of each cell.
        recurrent_dilations: Dilation of each cell.
        recurrent_bias: Bias flag of each cell.
        time_steps: Number of recurrent updates.
        checkpointing: Recompute each time step in the backward pass instead of storing its
            activations (much less memory, about one extra forward of compute); on the CPU
            freed heap pages are also returned to the OS after each step.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        in_chans: Channels of the network input (4: real/imag of the estimate and of the
            gradient); a subclass estimating other quantities (e.g. parameter maps) sets its own.
        out_chans: Channels of the update; ``conv_filters[-1]`` must equal it.
        channels_last: Run the convolutions and cells in NHWC memory layout (weights,
            activations and hidden states); on CPUs (oneDNN) about twice as fast, same results
            to float rounding.
    """

    def __init__(self, recurrent_layer: str = "IndRNN",
                 conv_filters: Sequence[int] = (64, 64, 2),
                 conv_kernels: Sequence[int] = (5, 3, 3),
                 conv_dilations: Sequence[int] = (1, 2, 1),
                 conv_bias: Sequence[bool] = (True, True, False),
                 recurrent_filters: Sequence[int] = (64, 64, 0),
                 recurrent_kernels: Sequence[int] = (1, 1, 0),
                 recurrent_dilations: Sequence[int] = (1, 1, 0),
                 recurrent_bias: Sequence[bool] = (True, True, False),
                 time_steps: int = 8, checkpointing: bool = False,
                 fft_kw: dict[str, Any] | None = None, in_chans: int = 4,
                 out_chans: int = 2, channels_last: bool = True) -> None:
        super().__init__()
        lists = [conv_filters, conv_kernels, conv_dilations, conv_bias, recurrent_filters,
                 recurrent_kernels, recurrent_dilations, recurrent_bias]
        if len({len(v) for v in lists}) != 1:
            raise ValueError("RIMBlock: conv_* and recurrent_* lists must have equal lengths, "
                             f"found lengths {[len(v) for v in lists]}")
        if conv_filters[-1] != out_chans or recurrent_filters[-1] != 0:
            raise ValueError(f"RIMBlock: expected conv_filters[-1] == {out_chans} and "
                             f"recurrent_filters[-1] == 0, found {conv_filters[-1]} and "
                             f"{recurrent_filters[-1]}")
        self.convs = nn.ModuleList()
        self.cells = nn.ModuleList()
        chans = in_chans
        for i, (cf, ck, cd, cb, rf, rk, rd, rb) in enumerate(zip(*lists, strict=True)):
            last = i == len(conv_filters) - 1
            conv = ConvNonlinear(chans, cf, ck, cd, bool(cb), relu=not last)
            chans = cf
            if last:
                self.final = conv
                break
            self.convs.append(conv)
            self.cells.append(build_recurrent_cell(recurrent_layer, chans, rf, rk or 1, rd or 1,
                                                   bool(rb)) if rf else nn.Identity())
            chans = rf or chans
        self.hidden_chans = [int(f) for f in recurrent_filters[:-1]]
        self.time_steps = int(time_steps)
        self.checkpointing = checkpointing
        self.fft_kw = dict(fft_kw or {})
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def init_hidden(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Zero hidden states for an estimate [B, H, W] (or [B, K, H, W]): float32 [B, F, H, W]."""
        b, (h, w) = image.shape[0], image.shape[-2:]
        return [image.real.new_zeros(b, f, h, w).contiguous(memory_format=self.memory_format)
                for f in self.hidden_chans if f]

    def update(self, x: torch.Tensor, hidden: Sequence[torch.Tensor]
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The network ``g``: input channels and hidden states -> update and new hidden states.

        Args:
            x: Float input [B, in_chans, H, W].
            hidden: The hidden states of the recurrent cells (see :meth:`init_hidden`).

        Returns:
            The update, float [B, out_chans, H, W], and the new hidden states.
        """
        x = x.contiguous(memory_format=self.memory_format)
        new_hidden, k = [], 0
        for conv, cell in zip(self.convs, self.cells, strict=True):
            x = conv(x)
            if not isinstance(cell, nn.Identity):
                x = cell(x, hidden[k])
                new_hidden.append(x)
                k += 1
        return self.final(x).float().contiguous(), new_hidden

    def _step(self, image: torch.Tensor, masked_kspace: torch.Tensor,
              sensitivity_maps: torch.Tensor, mask: torch.Tensor, sigma: float,
              *hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        grad = log_likelihood_gradient(image, masked_kspace, sensitivity_maps, mask, sigma,
                                       **self.fft_kw)
        x = torch.cat([complex_to_channels(image), complex_to_channels(grad)], dim=1)
        update, new_hidden = self.update(x, hidden)
        update = channels_to_complex(update)
        out = (at_least_complex64(image) + update, *new_hidden)
        if self.checkpointing:
            release_cpu_memory(update, least_memory=True)
        return out

    def forward(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor,
                hidden: list[torch.Tensor] | None = None,
                sigma: float = 1.0, **data: Any
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Run ``time_steps`` updates.

        Args:
            image: Initial estimate, complex64 [B, H, W].
            masked_kspace: Measured k-space, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps, complex64 [B, C, H, W].
            mask: Sampling mask, float, broadcastable to [B, C, H, W].
            hidden: Hidden states from a previous block (None = zeros).
            sigma: Noise level of the likelihood.
            **data: Extra inputs of a subclass's ``_step`` (e.g. echo times), passed by keyword.

        Returns:
            The estimate after every time step (complex64 [B, H, W] each) and the hidden states.
        """
        hidden = self.init_hidden(image) if hidden is None else list(hidden)
        estimates = []
        for _ in range(self.time_steps):
            if self.checkpointing and torch.is_grad_enabled():
                out = checkpoint(self._step, image, masked_kspace, sensitivity_maps, mask, sigma,
                                 *hidden, use_reentrant=False, **data)
            else:
                out = self._step(image, masked_kspace, sensitivity_maps, mask, sigma, *hidden,
                                 **data)
            image, hidden = out[0], list(out[1:])
            estimates.append(image)
        return estimates, hidden
