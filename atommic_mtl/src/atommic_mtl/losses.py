"""The joint loss: REC's reconstruction loss and SEG's segmentation loss, weighted between tasks.

``total = total_reconstruction_loss_weight * L_rec + total_segmentation_loss_weight * L_seg``
(the two weights of ATOMMIC's multitask models, same names). ``L_rec`` is REC's weighted sum
(``reconstruction_loss: {l1: 0.1, ssim: 0.9}``, :func:`atommic_rec.losses.build_loss`) over
every intermediate reconstruction, weighted by ``intermediate_loss_weighting`` (REC's
:func:`~atommic_rec.losses.intermediate_weights`: ``logspace``, ``uniform`` or ``last``);
``L_seg`` is SEG's weighted sum (``segmentation_loss: {dice: 1.0, cross_entropy: 1.0}``,
:func:`atommic_seg.losses.build_loss`) over every intermediate segmentation, weighted by
``segmentation_intermediate_loss_weighting`` (default ``last``).

Per-term weights are used as given (as in REC and SEG); ATOMMIC 1.0.1 rescales them to sum
to 1 and multiplies its segmentation loss by ``total_segmentation_loss_weight`` twice
(``process_segmentation_loss`` and ``__compute_loss__``); here each task weight applies once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from atommic_rec.losses import build_loss as build_reconstruction_loss
from atommic_rec.losses import intermediate_weights
from atommic_seg.losses import build_loss as build_segmentation_loss

__all__ = ["MultiTaskLoss"]


def _weighted(loss: nn.Module, predictions: Sequence[torch.Tensor], target: torch.Tensor,
              weighting: str) -> torch.Tensor:
    weights = intermediate_weights(len(predictions), weighting).tolist()
    return sum(w * loss(p, target) for w, p in zip(weights, predictions, strict=True) if w > 0)


class MultiTaskLoss(nn.Module):
    """Weighted sum of the reconstruction and the segmentation loss.

    Args:
        reconstruction_loss: REC loss weights, e.g. ``{l1: 0.1, ssim: 0.9}`` (None: L1).
        segmentation_loss: SEG loss spec, e.g. ``{dice: {weight: 1.0, include_background:
            false}, cross_entropy: 1.0}`` (None: Dice + cross-entropy).
        label_mode: ``"multiclass"`` (softmax) or ``"multilabel"`` (sigmoid per channel).
        total_reconstruction_loss_weight: Weight of the reconstruction task (>= 0).
        total_segmentation_loss_weight: Weight of the segmentation task (>= 0).
        reconstruction_weighting: Weighting of intermediate reconstructions.
        segmentation_weighting: Weighting of intermediate segmentations.

    Example:
        >>> loss = MultiTaskLoss({"l1": 1.0}, {"cross_entropy": 1.0})
        >>> total, parts = loss([torch.ones(1, 8, 8)], torch.ones(1, 8, 8),
        ...                     [torch.zeros(1, 2, 8, 8)], torch.zeros(1, 8, 8, dtype=torch.long))
        >>> sorted(parts)
        ['reconstruction_loss', 'segmentation_loss']
    """

    def __init__(self, reconstruction_loss: Mapping[str, float] | str | None = None,
                 segmentation_loss: Mapping[str, Any] | None = None,
                 label_mode: str = "multiclass", total_reconstruction_loss_weight: float = 1.0,
                 total_segmentation_loss_weight: float = 1.0,
                 reconstruction_weighting: str = "logspace",
                 segmentation_weighting: str = "last") -> None:
        super().__init__()
        self.task_weights = {"reconstruction": float(total_reconstruction_loss_weight),
                             "segmentation": float(total_segmentation_loss_weight)}
        if min(self.task_weights.values()) < 0 or not any(self.task_weights.values()):
            raise ValueError(f"expected total_reconstruction_loss_weight and "
                             f"total_segmentation_loss_weight >= 0, not both 0; found "
                             f"{self.task_weights['reconstruction']} and "
                             f"{self.task_weights['segmentation']}")
        for weighting in (reconstruction_weighting, segmentation_weighting):
            intermediate_weights(1, weighting)  # a bad name fails here, not mid-training
        self.reconstruction = build_reconstruction_loss(reconstruction_loss)
        self.segmentation = build_segmentation_loss(segmentation_loss, label_mode)
        self.weightings = {"reconstruction": reconstruction_weighting,
                           "segmentation": segmentation_weighting}

    def forward(self, reconstructions: Sequence[torch.Tensor], target: torch.Tensor,
                segmentations: Sequence[torch.Tensor], labels: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss and its two (unweighted) task losses.

        Args:
            reconstructions: Magnitude estimates in order, float ``[B, H, W]`` each.
            target: Float ``[B, H, W]``.
            segmentations: Logits in order, ``[B, K, H, W]`` each.
            labels: Class indices ``[B, H, W]`` or channels ``[B, K, H, W]``.

        Returns:
            ``(total, {"reconstruction_loss": ..., "segmentation_loss": ...})``.
        """
        rec = _weighted(self.reconstruction, reconstructions, target,
                        self.weightings["reconstruction"])
        seg = _weighted(self.segmentation, [s.float() for s in segmentations], labels,
                        self.weightings["segmentation"])
        total = self.task_weights["reconstruction"] * rec + self.task_weights["segmentation"] * seg
        return total, {"reconstruction_loss": rec, "segmentation_loss": seg}
