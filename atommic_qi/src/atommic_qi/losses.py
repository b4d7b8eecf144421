"""The quantitative loss: one REC loss per map, inside the brain mask, weighted per map.

For each map ``k`` the prediction and target are divided by the signal model's typical scale
``n_k`` (so R2* in 1/s and S0 in a.u. are comparable), multiplied by the brain mask and
compared with REC's loss (``{l1: 1.0}`` by default; ``mse`` and ``ssim`` too, see
:func:`atommic_rec.losses.build_loss`). Phase maps compare the wrapped difference. The map
terms are summed with ``weights`` normalised to sum to 1.

The default weights ``[150, 150, 1000, 150]`` (R2*, S0, B0, phi) are the numbers of ATOMMIC's
qMRI configs (``quantitative_maps_regularization_factors``). ATOMMIC divides its maps by them
before the network and divides each L1 term by a separate factor (1 in its AHEAD configs);
here they are relative loss weights (B0 weighs 1000/1450 of the total), and the maps are
scaled by the signal model's ``scales`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from atommic_qi.physics.signal import MAP_NAMES, SignalModel, get_signal_model
from atommic_rec.losses import build_loss, iterative_loss

__all__ = ["DEFAULT_MAP_WEIGHTS", "QuantitativeLoss", "wrap_phase"]

DEFAULT_MAP_WEIGHTS = (150.0, 150.0, 1000.0, 150.0)


def wrap_phase(x: torch.Tensor) -> torch.Tensor:
    """Wrap angles to [-pi, pi) (differentiable almost everywhere)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


class QuantitativeLoss(nn.Module):
    """Weighted per-map loss inside the brain mask (see the module docstring).

    Args:
        loss: REC loss config, e.g. ``{l1: 1.0}`` or ``{l1: 0.5, ssim: 0.5}`` (None: L1).
        weights: One weight per map (R2*, S0, B0, phi); normalised to sum to 1.
        signal_model: Gives the map scales and which maps are phases.
        scales: Override the signal model's scales (one positive number per map).

    Example:
        >>> loss = QuantitativeLoss()
        >>> maps = torch.ones(1, 4, 8, 8)
        >>> float(loss(maps, maps, torch.ones(1, 8, 8)))
        0.0
    """

    def __init__(self, loss: Mapping[str, float] | str | None = None,
                 weights: Sequence[float] = DEFAULT_MAP_WEIGHTS,
                 signal_model: str | SignalModel = "gre",
                 scales: Sequence[float] | None = None) -> None:
        super().__init__()
        model = get_signal_model(signal_model)
        weights = [float(w) for w in weights]
        scales = [float(s) for s in (model.scales if scales is None else scales)]
        if len(weights) != len(MAP_NAMES) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"loss weights: expected {len(MAP_NAMES)} non-negative numbers "
                             f"({', '.join(MAP_NAMES)}) with a positive sum; found {weights}")
        if len(scales) != len(MAP_NAMES) or min(scales) <= 0:
            raise ValueError(f"map_scales: expected {len(MAP_NAMES)} positive numbers; found "
                             f"{scales}")
        self.weights = [w / sum(weights) for w in weights]
        self.scales = scales
        self.phase_maps = set(model.phase_maps)
        self.loss_fn = build_loss(None if loss is None else
                                  (dict(loss) if isinstance(loss, Mapping) else loss))

    def per_map(self, prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                ) -> list[torch.Tensor]:
        """Unweighted loss of each map, scaled and masked.

        Args:
            prediction: Maps ``[B, 4, H, W]``.
            target: Maps ``[B, 4, H, W]``.
            mask: Brain mask ``[B, H, W]``.

        Returns:
            Four scalar losses in :data:`MAP_NAMES` order.
        """
        mask = mask.to(prediction.dtype)
        terms = []
        for k in range(len(MAP_NAMES)):
            p, t = prediction[:, k].float(), target[:, k].float()
            if k in self.phase_maps:
                p = t + wrap_phase(p - t)
            p, t = p * mask / self.scales[k], t * mask / self.scales[k]
            data_range = (t.amax(dim=(-2, -1)) - t.amin(dim=(-2, -1))).clamp_min(1e-6)
            terms.append(self.loss_fn(p, t, data_range))
        return terms

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Weighted sum over maps of :meth:`per_map` (float scalar)."""
        return sum(w * term for w, term in
                   zip(self.weights, self.per_map(prediction, target, mask), strict=True)
                   if w > 0)

    def iterative(self, estimates: Sequence[torch.Tensor], target: torch.Tensor,
                  mask: torch.Tensor, weighting: str = "logspace") -> torch.Tensor:
        """The loss over intermediate estimates (REC's ``intermediate_loss_weighting``).

        Args:
            estimates: Maps ``[B, 4, H, W]`` in order, the final estimate last.
            target: Maps ``[B, 4, H, W]``.
            mask: Brain mask ``[B, H, W]``.
            weighting: ``logspace``, ``uniform`` or ``last``.

        Returns:
            The scalar loss.
        """
        if len(estimates) == 1:
            return self(estimates[0], target, mask)
        return iterative_loss(lambda p, t, _r: self(p, t, mask), estimates, target,
                              weighting=weighting)
