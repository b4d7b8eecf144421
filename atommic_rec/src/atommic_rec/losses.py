"""Reconstruction losses: L1, MSE, SSIM, weighted sums, and weighting of intermediate outputs.

A loss config is a dict of weights, e.g. ``{l1: 0.1, ssim: 0.9}``; every loss takes magnitude
images ``prediction``/``target`` float [B, H, W] and an optional per-slice ``data_range`` [B]
(default: each target slice's maximum), used by SSIM.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atommic_rec.metrics import ssim

__all__ = ["LOSSES", "L1Loss", "MSELoss", "SSIMLoss", "WeightedLoss", "build_loss",
           "intermediate_weights", "iterative_loss", "normalized_l1_l2_loss"]


class L1Loss(nn.Module):
    """Mean absolute error."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                data_range: torch.Tensor | None = None) -> torch.Tensor:
        """Float [B, H, W] pair -> scalar."""
        return F.l1_loss(prediction, target)


class MSELoss(nn.Module):
    """Mean squared error."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                data_range: torch.Tensor | None = None) -> torch.Tensor:
        """Float [B, H, W] pair -> scalar."""
        return F.mse_loss(prediction, target)


class SSIMLoss(nn.Module):
    """``1 - SSIM`` averaged over slices (7x7 uniform window, as the SSIM metric).

    Args:
        win_size: Window side.
    """

    def __init__(self, win_size: int = 7) -> None:
        super().__init__()
        self.win_size = win_size

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                data_range: torch.Tensor | None = None) -> torch.Tensor:
        """Float [B, H, W] pair (and data range [B]) -> scalar."""
        return 1 - ssim(target, prediction, data_range, win_size=self.win_size).mean()


LOSSES: dict[str, type[nn.Module]] = {"l1": L1Loss, "mse": MSELoss, "ssim": SSIMLoss}


class WeightedLoss(nn.Module):
    """A weighted sum of named losses.

    Args:
        weights: ``{name: weight}`` with names from :data:`LOSSES`.

    Example:
        >>> loss = WeightedLoss({"l1": 0.1, "ssim": 0.9})
        >>> float(loss(torch.ones(1, 8, 8), torch.ones(1, 8, 8)))
        0.0
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__()
        if not weights:
            raise ValueError("loss: expected at least one entry like {l1: 1.0}; found none")
        unknown = [k for k in weights if str(k).lower() not in LOSSES]
        if unknown:
            raise ValueError(f"loss: unknown loss {unknown[0]!r}; expected one of "
                             f"{', '.join(LOSSES)}")
        self.weights = {str(k).lower(): float(v) for k, v in weights.items()}
        self.losses = nn.ModuleDict({k: LOSSES[k]() for k in self.weights})

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                data_range: torch.Tensor | None = None) -> torch.Tensor:
        """Float [B, H, W] pair (and data range [B]) -> scalar weighted sum."""
        prediction, target = prediction.float(), target.float()
        return sum(w * self.losses[k](prediction, target, data_range)
                   for k, w in self.weights.items())


def build_loss(cfg: Mapping[str, float] | str | None) -> WeightedLoss:
    """Build a :class:`WeightedLoss` from ``{l1: 0.1, ssim: 0.9}``, a name, or None (= L1).

    Args:
        cfg: Weights by loss name, a single name, or None.

    Returns:
        The loss module.
    """
    if cfg is None:
        cfg = {"l1": 1.0}
    elif isinstance(cfg, str):
        cfg = {cfg: 1.0}
    return WeightedLoss(dict(cfg))


def intermediate_weights(levels: int | Sequence[int], weighting: str = "logspace") -> torch.Tensor:
    """Weights of intermediate outputs, in output order, summing to 1.

    Unrolled and recurrent models give their outputs in nested order, e.g. every time step of
    every cascade (``levels = (cascades, time_steps)``, time steps varying fastest). With
    ``logspace`` the weight of an output is the product of one ``logspace(-1, 0, n)`` factor
    per level, as ATOMMIC weighs CIRIM (cascades x time steps) and CRNN (iterations): later
    cascades and later time steps weigh more. ATOMMIC divides by the output counts instead of
    the sum; the relative weights are the same, only the overall scale of the loss differs.

    Args:
        levels: Number of outputs (one level), or the size of each level, outermost first.
        weighting: ``last`` (final output only), ``uniform``, or ``logspace``.

    Returns:
        Float32 weights [prod(levels)].

    Example:
        >>> [round(w, 3) for w in intermediate_weights((2, 2)).tolist()]  # 0.1*0.1, 0.1*1, ...
        [0.008, 0.083, 0.083, 0.826]
    """
    sizes = [int(levels)] if isinstance(levels, int) else [int(n) for n in levels]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"intermediate loss weighting: expected level sizes >= 1; found {sizes}")
    n = math.prod(sizes)
    if weighting == "last":
        w = torch.zeros(n)
        w[-1] = 1.0
    elif weighting == "uniform":
        w = torch.ones(n)
    elif weighting == "logspace":
        w = torch.ones(1)
        for size in sizes:
            w = torch.outer(w, torch.logspace(-1, 0, steps=size)).flatten()
    else:
        raise ValueError(f"intermediate loss weighting: expected last, uniform or logspace; "
                         f"found {weighting!r}")
    return w / w.sum()


def iterative_loss(loss: nn.Module, predictions: Sequence[torch.Tensor], target: torch.Tensor,
                   data_range: torch.Tensor | None = None,
                   weighting: str = "logspace",
                   levels: Sequence[int] | None = None) -> torch.Tensor:
    """Weighted loss over intermediate outputs (e.g. every time step of every cascade).

    Args:
        loss: A loss taking ``(prediction, target, data_range)``.
        predictions: Magnitude estimates in order, each float [B, H, W].
        target: Float [B, H, W].
        data_range: Optional per-slice data range [B].
        weighting: See :func:`intermediate_weights`.
        levels: The nesting of ``predictions`` (e.g. ``(cascades, time_steps)``); None: one
            level of ``len(predictions)``.

    Returns:
        The scalar loss.
    """
    levels = (len(predictions),) if levels is None else tuple(levels)
    if math.prod(levels) != len(predictions):
        raise ValueError(f"iterative_loss: expected {math.prod(levels)} predictions for levels "
                         f"{list(levels)}; found {len(predictions)}")
    weights = intermediate_weights(levels, weighting).tolist()
    return sum(w * loss(p, target, data_range)
               for w, p in zip(weights, predictions, strict=True) if w > 0)


def normalized_l1_l2_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSDU's k-space loss ``||y - p||_2 / ||y||_2 + ||y - p||_1 / ||y||_1`` (Yaman et al. 2020).

    Norms are over each item's complex entries (``|.|`` for the 1-norm), averaged over items.

    Args:
        prediction: Complex k-space on the loss set, ``[B, ...]``.
        target: The measured k-space on the same set, ``[B, ...]``.

    Returns:
        The scalar loss.
    """
    diff = (prediction - target).flatten(1).abs()
    ref = target.flatten(1).abs()
    l2 = diff.square().sum(1).sqrt() / ref.square().sum(1).sqrt().clamp_min(1e-12)
    l1 = diff.sum(1) / ref.sum(1).clamp_min(1e-12)
    return (l2 + l1).mean()
