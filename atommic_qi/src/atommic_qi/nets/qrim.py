"""Quantitative recurrent inference machines: qRIM and its cascades, qCIRIM.

Reference: C. Zhang, D. Karkalousos et al., "A unified model for reconstruction and R2*
mapping of accelerated 7T data using the quantitative recurrent inference machine",
NeuroImage 264 (2022) 119680. The recurrent network is REC's :class:`RIMBlock` (same layer
lists, cells and activation checkpointing) on real map channels instead of a complex image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from atommic_qi.fitting import parse_ranges, range_tensors
from atommic_qi.physics.operators import likelihood_gradient
from atommic_qi.physics.signal import MAP_NAMES, SignalModel, get_signal_model
from atommic_rec.nets import RIMBlock
from atommic_rec.nets._memory import release_cpu_memory

__all__ = ["QCIRIMNet", "QRIMBlock"]

_MAPS = len(MAP_NAMES)


class QRIMBlock(RIMBlock):
    """One qRIM: ``time_steps`` updates ``u <- u + g([u, s * grad L(s * u)], h)``.

    ``u = maps / s`` are the maps divided by per-map scales ``s`` (so the network sees O(1)
    values) and ``grad L`` is the exact gradient of the Gaussian data term with respect to the
    physical maps (:func:`~atommic_qi.physics.likelihood_gradient`), i.e. ``s * grad L`` is
    the gradient with respect to ``u``. ``g`` is REC's RIM network with 8 input channels (4
    maps, 4 gradients) and 4 output channels.

    Args:
        signal_model: ``gre`` or ``atommic_megre`` (see :mod:`atommic_qi.physics.signal`).
        scales: Per-map scales ``s`` (None: the signal model's).
        zero_init: Zero the last convolution, so that training starts from the fitted maps
            (every update 0) instead of random updates (ATOMMIC: random).
        ranges: ``{map: (low, high)}`` in physical units (see
            :func:`~atommic_qi.fitting.parse_ranges`); every estimate is clamped to them, as
            ATOMMIC clamps R2* at 0 after each step (None: the signal model's defaults). This
            keeps ``exp(-R2* TE)`` finite whatever an untrained network outputs.
        **rim_kwargs: :class:`~atommic_rec.nets.RIMBlock` arguments (``recurrent_layer``, the
            layer lists with ``conv_filters[-1] == 4``, ``time_steps``, ``checkpointing``,
            ``fft_kw``).
    """

    def __init__(self, signal_model: str | SignalModel = "gre",
                 scales: Sequence[float] | None = None, zero_init: bool = False,
                 ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
                 **rim_kwargs: Any) -> None:
        rim_kwargs.setdefault("conv_filters", (64, 64, _MAPS))
        super().__init__(in_chans=2 * _MAPS, out_chans=_MAPS, **rim_kwargs)
        if zero_init:
            nn.init.zeros_(self.final.conv.weight)
        self.signal_model = get_signal_model(signal_model)
        scales = self.signal_model.scales if scales is None else scales
        self.register_buffer("scales", torch.tensor([float(s) for s in scales]).view(1, -1, 1, 1),
                             persistent=False)
        low, high = range_tensors(parse_ranges(None, self.signal_model) if ranges is None
                                  else ranges, scales)
        self.register_buffer("low", low, persistent=False)
        self.register_buffer("high", high, persistent=False)

    def _step(self, maps: torch.Tensor, masked_kspace: torch.Tensor,
              sensitivity_maps: torch.Tensor, mask: torch.Tensor, sigma: float,
              *hidden: torch.Tensor, tes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scales = self.scales.to(maps.dtype)
        grad = likelihood_gradient(maps * scales, tes, masked_kspace, sensitivity_maps, mask,
                                   sigma, signal_model=self.signal_model, **self.fft_kw)
        update, new_hidden = self.update(torch.cat([maps, grad * scales], dim=1), hidden)
        new = torch.clamp(maps + update.to(maps.dtype), self.low.to(maps.dtype),
                          self.high.to(maps.dtype))
        out = (new, *new_hidden)
        if self.checkpointing:
            release_cpu_memory(update)
        return out


class QCIRIMNet(nn.Module):
    """``num_cascades`` qRIM blocks; each starts from the previous block's last estimate.

    Hidden states carry over from one cascade to the next (as in CIRIM and ATOMMIC's qCIRIM).

    Args:
        num_cascades: Number of qRIM blocks (1 = a plain qRIM).
        checkpoint_cascades: Recompute each cascade in the backward pass.
        **block_kwargs: :class:`QRIMBlock` arguments.

    Example:
        >>> net = QCIRIMNet(1, conv_filters=(4, 4, 4), recurrent_filters=(4, 4, 0), time_steps=2)
        >>> maps = torch.ones(1, 4, 8, 8)
        >>> y = torch.zeros(1, 2, 2, 8, 8, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 8, 8, dtype=torch.complex64)
        >>> out = net(maps, y, s, torch.ones(1, 1, 1, 1, 8), torch.tensor([3.0, 10.0]))
        >>> len(out), len(out[0]), out[-1][-1].shape
        (1, 2, torch.Size([1, 4, 8, 8]))
    """

    def __init__(self, num_cascades: int = 5, checkpoint_cascades: bool = False,
                 **block_kwargs: Any) -> None:
        super().__init__()
        if num_cascades < 1:
            raise ValueError(f"QCIRIMNet: expected num_cascades >= 1, found {num_cascades}")
        self.cascades = nn.ModuleList(QRIMBlock(**block_kwargs) for _ in range(num_cascades))
        self.checkpoint_cascades = checkpoint_cascades

    def forward(self, maps: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor, tes: torch.Tensor,
                sigma: float = 1.0) -> list[list[torch.Tensor]]:
        """Refine initial maps, keeping every intermediate estimate.

        Args:
            maps: Initial maps ``[B, 4, H, W]`` in physical units.
            masked_kspace: Measured complex64 ``[B, E, C, H, W]``.
            sensitivity_maps: Complex64 ``[B, C, H, W]``.
            mask: Float mask broadcastable to ``masked_kspace``.
            tes: Echo times in ms, ``[E]`` or ``[B, E]``.
            sigma: Noise level of the likelihood.

        Returns:
            ``estimates[cascade][time_step]``, maps ``[B, 4, H, W]`` in physical units.
        """
        scales = self.cascades[0].scales.to(maps.dtype)
        u, hidden = maps / scales, None
        estimates: list[list[torch.Tensor]] = []
        for cascade in self.cascades:
            if self.checkpoint_cascades and torch.is_grad_enabled():
                steps, hidden = checkpoint(cascade, u, masked_kspace, sensitivity_maps, mask,
                                           hidden, sigma, tes=tes, use_reentrant=False)
            else:
                steps, hidden = cascade(u, masked_kspace, sensitivity_maps, mask, hidden, sigma,
                                        tes=tes)
            estimates.append([step * scales for step in steps])
            u = steps[-1]
        return estimates
