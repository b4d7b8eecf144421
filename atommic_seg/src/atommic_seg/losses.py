"""Segmentation losses: soft Dice, generalized Dice, cross-entropy, focal, and weighted sums.

Every loss is called like torch's: ``loss(input, target)``.

* ``input``: logits ``[B, C, *S]`` (float).
* ``target``: in ``"multiclass"`` mode class indices ``[B, *S]`` (int64) or one-hot
  ``[B, C, *S]``; in ``"multilabel"`` mode one binary channel per class ``[B, C, *S]``.

Multiclass losses use a softmax over ``C``; multilabel losses an independent sigmoid per
channel (binary cross-entropy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "LOSSES",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "GeneralizedDiceLoss",
    "WeightedSumLoss",
    "build_loss",
]

_MODES = ("multiclass", "multilabel")


def _check_mode(mode: str) -> str:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, found {mode!r}")
    return mode


def _one_hot_target(input: torch.Tensor, target: torch.Tensor, mode: str) -> torch.Tensor:
    """Return the target as float ``[B, C, *S]`` matching ``input``."""
    if target.dim() == input.dim():
        if target.shape != input.shape:
            raise ValueError(f"target shape {tuple(target.shape)} must equal input shape "
                             f"{tuple(input.shape)}")
        return target.to(input.dtype)
    if mode == "multilabel" or target.dim() != input.dim() - 1:
        raise ValueError(
            f"expected target [B, C, *S] (or class indices [B, *S] in multiclass mode) for "
            f"input {tuple(input.shape)}, found {tuple(target.shape)}")
    one_hot = F.one_hot(target.long(), input.shape[1])  # [B, *S, C]
    return one_hot.movedim(-1, 1).to(input.dtype)


def _probabilities(input: torch.Tensor, mode: str) -> torch.Tensor:
    return input.softmax(dim=1) if mode == "multiclass" else input.sigmoid()


class DiceLoss(nn.Module):
    """Soft Dice loss ``1 - mean_c (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)``.

    Args:
        include_background: If False, channel 0 is left out (multiclass only).
        mode: ``"multiclass"`` (softmax) or ``"multilabel"`` (sigmoid).
        smooth: The ``eps`` above; keeps empty classes from dividing by zero.
        batch: If True, sums run over the whole batch instead of per sample.

    Returns:
        A scalar tensor.
    """

    def __init__(self, include_background: bool = True, mode: str = "multiclass",
                 smooth: float = 1e-5, batch: bool = False) -> None:
        super().__init__()
        self.include_background = include_background
        self.mode = _check_mode(mode)
        self.smooth = smooth
        self.batch = batch

    def _terms(self, input: torch.Tensor, target: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        target = _one_hot_target(input, target, self.mode)
        probs = _probabilities(input, self.mode)
        if not self.include_background and self.mode == "multiclass":
            probs, target = probs[:, 1:], target[:, 1:]
        dims = [0, *range(2, input.dim())] if self.batch else list(range(2, input.dim()))
        intersection = (probs * target).sum(dims)
        return intersection, probs.sum(dims), target.sum(dims)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss."""
        inter, p_sum, t_sum = self._terms(input, target)
        dice = (2 * inter + self.smooth) / (p_sum + t_sum + self.smooth)
        return 1 - dice.mean()


class GeneralizedDiceLoss(DiceLoss):
    """Generalized Dice loss (Sudre et al. 2017, DLMIA, arXiv:1707.03237).

    Class weights ``w_c = 1 / (sum t_c)^2`` balance small and large structures:
    ``1 - 2 sum_c w_c sum(p t) / sum_c w_c (sum(p) + sum(t))``. The weight of a class absent
    from the target (infinite) is replaced by the largest finite weight, as in Sudre et al.
    and MONAI, so probability put on it is penalised on the scale of the present classes; if
    every class is absent, all weights are equal. Arguments as :class:`DiceLoss`.
    """

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss."""
        inter, p_sum, t_sum = self._terms(input, target)
        w = 1.0 / t_sum.clamp_min(0).square()
        finite = torch.isfinite(w)
        max_w = torch.where(finite, w, torch.zeros_like(w)).amax(dim=-1, keepdim=True)
        # no present class: any equal weight gives the same ratio
        max_w = torch.where(finite.any(dim=-1, keepdim=True), max_w, torch.ones_like(max_w))
        w = torch.where(finite, w, max_w)
        num = (w * inter).sum(-1)
        den = (w * (p_sum + t_sum)).sum(-1)
        return 1 - ((2 * num + self.smooth) / (den + self.smooth)).mean()


class CrossEntropyLoss(nn.Module):
    """Categorical (multiclass, softmax) or binary (multilabel, sigmoid) cross-entropy.

    Args:
        mode: ``"multiclass"`` or ``"multilabel"``.
        weight: Optional per-class weights (list of ``C`` floats).

    Returns:
        A scalar tensor (mean over elements).
    """

    def __init__(self, mode: str = "multiclass", weight: list[float] | None = None) -> None:
        super().__init__()
        self.mode = _check_mode(mode)
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32)
                             if weight is not None else None, persistent=False)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss."""
        if self.mode == "multilabel":
            target = _one_hot_target(input, target, self.mode)
            w = None
            if self.weight is not None:
                w = self.weight.view(1, -1, *([1] * (input.dim() - 2)))
            return F.binary_cross_entropy_with_logits(input, target, weight=w)
        if target.dim() == input.dim():  # one-hot / soft targets
            target = target.to(input.dtype)
        else:
            target = target.long()
        return F.cross_entropy(input, target, weight=self.weight)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017, ICCV, arXiv:1708.02002): ``-alpha (1 - p_t)^gamma log p_t``.

    Args:
        mode: ``"multiclass"`` (softmax over classes) or ``"multilabel"`` (sigmoid).
        gamma: Focusing parameter (0 gives cross-entropy).
        alpha: Optional weight of the positive class (multilabel) or of every class (float).

    Returns:
        A scalar tensor (mean over elements).
    """

    def __init__(self, mode: str = "multiclass", gamma: float = 2.0,
                 alpha: float | None = None) -> None:
        super().__init__()
        self.mode = _check_mode(mode)
        self.gamma = gamma
        self.alpha = alpha

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss."""
        target = _one_hot_target(input, target, self.mode)
        if self.mode == "multiclass":
            log_p = input.log_softmax(dim=1)
            log_pt = (log_p * target).sum(1)
            loss = -((1 - log_pt.exp()) ** self.gamma) * log_pt
            return (loss * self.alpha if self.alpha is not None else loss).mean()
        bce = F.binary_cross_entropy_with_logits(input, target, reduction="none")
        p_t = torch.exp(-bce)
        loss = (1 - p_t) ** self.gamma * bce
        if self.alpha is not None:
            loss = loss * (self.alpha * target + (1 - self.alpha) * (1 - target))
        return loss.mean()


LOSSES: dict[str, type[nn.Module]] = {
    "dice": DiceLoss,
    "generalized_dice": GeneralizedDiceLoss,
    "cross_entropy": CrossEntropyLoss,
    "focal": FocalLoss,
}


class WeightedSumLoss(nn.Module):
    """``sum_i weight_i * loss_i(input, target)``.

    Args:
        losses: Mapping name -> (weight, loss module).

    Returns:
        A scalar tensor; the last call's parts are kept in ``last_parts`` for logging.
    """

    def __init__(self, losses: Mapping[str, tuple[float, nn.Module]]) -> None:
        super().__init__()
        if not losses:
            raise ValueError("at least one loss is needed, found none")
        self.weights = {name: float(w) for name, (w, _) in losses.items()}
        self.losses = nn.ModuleDict({name: loss for name, (_, loss) in losses.items()})
        self.last_parts: dict[str, torch.Tensor] = {}

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the weighted sum."""
        parts = {name: loss(input, target) for name, loss in self.losses.items()}
        self.last_parts = {k: v.detach() for k, v in parts.items()}
        return sum(self.weights[k] * v for k, v in parts.items())


def build_loss(spec: Mapping[str, Any] | None, mode: str = "multiclass") -> WeightedSumLoss:
    """Build a weighted sum of losses from a config dict.

    Args:
        spec: ``{name: weight}`` or ``{name: {weight: w, <loss kwargs>}}`` with names from
            :data:`LOSSES` (default ``{dice: 1.0, cross_entropy: 1.0}``).
        mode: ``"multiclass"`` or ``"multilabel"``, passed to every loss.

    Returns:
        The :class:`WeightedSumLoss`.

    Example:
        >>> loss = build_loss({"dice": {"weight": 1.0, "include_background": False},
        ...                    "cross_entropy": 0.5})
    """
    spec = dict(spec) if spec is not None else {"dice": 1.0, "cross_entropy": 1.0}
    built = {}
    for name, value in spec.items():
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
        kwargs = dict(value) if isinstance(value, Mapping) else {"weight": value}
        weight = float(kwargs.pop("weight", 1.0))
        if name == "cross_entropy" and "class_weight" in kwargs:
            kwargs["weight"] = list(kwargs.pop("class_weight"))
        built[name] = (weight, LOSSES[name](mode=mode, **kwargs))
    return WeightedSumLoss(built)
