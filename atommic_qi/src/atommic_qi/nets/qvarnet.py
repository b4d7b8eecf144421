"""Quantitative variational network (qVarNet; Zhang et al., NeuroImage 264 (2022) 119680).

Each cascade is a VarNet step on the scaled maps ``u = maps / s``: a learned-weight gradient
step on the data term plus a U-Net regulariser (REC's :class:`~atommic_rec.nets.Unet`, the
network inside every VarNet cascade), ``u <- u - w * g - R([u, g])`` with ``g = s * grad L``
the data-term gradient with respect to ``u`` (VarNet's soft data consistency in k-space is the
same gradient step for the linear model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from atommic_qi.fitting import parse_ranges, range_tensors
from atommic_qi.physics.operators import likelihood_gradient
from atommic_qi.physics.signal import MAP_NAMES, SignalModel, get_signal_model
from atommic_rec.nets import Unet

__all__ = ["QVarNetBlock", "QVarNetNet"]

_MAPS = len(MAP_NAMES)


class QVarNetBlock(nn.Module):
    """One cascade ``u <- u - w * g - R([u, g])`` (see the module docstring).

    Args:
        chans: U-Net channels of the first level.
        num_pools: U-Net pooling levels.
        no_dc: Drop the gradient (data-consistency) term.
        zero_init: Zero the U-Net's last convolution (the cascade starts as a gradient step).
        scales: Per-map scales ``s``, a float tensor ``[1, 4, 1, 1]`` shared by the cascades.
        signal_model: ``gre`` or ``atommic_megre``.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        bounds: ``(low, high)`` of the scaled maps, tensors ``[1, 4, 1, 1]`` (None: unbounded);
            every output is clamped to them.
    """

    def __init__(self, chans: int = 18, num_pools: int = 4, no_dc: bool = False,
                 zero_init: bool = False, scales: torch.Tensor | None = None,
                 signal_model: str | SignalModel = "gre",
                 fft_kw: dict[str, Any] | None = None,
                 bounds: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.unet = Unet(2 * _MAPS, _MAPS, chans=chans, num_pools=num_pools)
        if zero_init:
            last = self.unet.up_conv[-1][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.dc_weight = nn.Parameter(torch.ones(1))
        self.no_dc = no_dc
        self.signal_model = get_signal_model(signal_model)
        self.register_buffer("scales", torch.ones(1, _MAPS, 1, 1) if scales is None
                             else scales.clone(), persistent=False)
        self.fft_kw = dict(fft_kw or {})
        low, high = bounds if bounds is not None else (torch.full((1, _MAPS, 1, 1), -torch.inf),
                                                        torch.full((1, _MAPS, 1, 1), torch.inf))
        self.register_buffer("low", low.clone(), persistent=False)
        self.register_buffer("high", high.clone(), persistent=False)

    def forward(self, maps: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor, tes: torch.Tensor,
                sigma: float = 1.0) -> torch.Tensor:
        """Update scaled maps ``u`` ``[B, 4, H, W]`` (other inputs as in :class:`QVarNetNet`)."""
        scales = self.scales.to(maps.dtype)
        grad = likelihood_gradient(maps * scales, tes, masked_kspace, sensitivity_maps, mask,
                                   sigma, signal_model=self.signal_model, **self.fft_kw) * scales
        out = maps - self.unet(torch.cat([maps, grad], dim=1)).to(maps.dtype)
        out = out if self.no_dc else out - self.dc_weight * grad
        return torch.clamp(out, self.low.to(maps.dtype), self.high.to(maps.dtype))


class QVarNetNet(nn.Module):
    """Cascades of :class:`QVarNetBlock` on scaled maps.

    Args:
        num_cascades: Number of cascades.
        chans: U-Net channels of each cascade.
        num_pools: U-Net pooling levels.
        no_dc: Drop the gradient terms.
        zero_init: Zero every U-Net's last convolution.
        signal_model: ``gre`` or ``atommic_megre``.
        scales: Per-map scales (None: the signal model's).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        ranges: ``{map: (low, high)}`` in physical units clamping every output (None: the
            signal model's defaults, see :func:`~atommic_qi.fitting.parse_ranges`).

    Example:
        >>> net = QVarNetNet(num_cascades=1, chans=4, num_pools=2)
        >>> maps = torch.ones(1, 4, 16, 16)
        >>> y = torch.zeros(1, 2, 2, 16, 16, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 16, 16, dtype=torch.complex64)
        >>> net(maps, y, s, torch.ones(1, 1, 1, 1, 16), torch.tensor([3.0, 10.0]))[-1].shape
        torch.Size([1, 4, 16, 16])
    """

    def __init__(self, num_cascades: int = 8, chans: int = 18, num_pools: int = 4,
                 no_dc: bool = False, zero_init: bool = False,
                 signal_model: str | SignalModel = "gre", scales: Sequence[float] | None = None,
                 fft_kw: dict[str, Any] | None = None,
                 ranges: Mapping[str, tuple[float | None, float | None]] | None = None) -> None:
        super().__init__()
        model = get_signal_model(signal_model)
        scales = model.scales if scales is None else scales
        scale = torch.tensor([float(s) for s in scales]).view(1, -1, 1, 1)
        bounds = range_tensors(parse_ranges(None, model) if ranges is None else ranges, scales)
        self.cascades = nn.ModuleList(
            QVarNetBlock(chans, num_pools, no_dc, zero_init, scale, model, fft_kw, bounds)
            for _ in range(num_cascades))
        self.register_buffer("scales", scale, persistent=False)

    def forward(self, maps: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor, tes: torch.Tensor,
                sigma: float = 1.0) -> list[torch.Tensor]:
        """Refine initial maps.

        Args:
            maps: Initial maps ``[B, 4, H, W]`` in physical units.
            masked_kspace: Measured complex64 ``[B, E, C, H, W]``.
            sensitivity_maps: Complex64 ``[B, C, H, W]``.
            mask: Float mask broadcastable to ``masked_kspace``.
            tes: Echo times in ms, ``[E]`` or ``[B, E]``.
            sigma: Noise level of the likelihood.

        Returns:
            The maps after every cascade, ``[B, 4, H, W]`` in physical units.
        """
        scales = self.scales.to(maps.dtype)
        u = maps / scales
        estimates = []
        for cascade in self.cascades:
            u = cascade(u, masked_kspace, sensitivity_maps, mask, tes, sigma)
            estimates.append(u * scales)
        return estimates
