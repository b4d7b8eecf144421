"""MultiTaskLoss against the formula written out with torch's own losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atommic_mtl.losses import MultiTaskLoss


def _inputs(seed=0, n_rec=3, n_seg=2):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 8, 8, generator=g)
    recs = [target + 0.1 * (i + 1) * torch.randn(2, 8, 8, generator=g) for i in range(n_rec)]
    labels = torch.randint(0, 3, (2, 8, 8), generator=g)
    segs = [torch.randn(2, 3, 8, 8, generator=g) for _ in range(n_seg)]
    return recs, target, segs, labels


def test_task_weights_and_intermediate_weighting_follow_the_formula():
    recs, target, segs, labels = _inputs()
    loss = MultiTaskLoss({"l1": 0.3, "mse": 0.7}, {"cross_entropy": 2.0},
                         total_reconstruction_loss_weight=0.5,
                         total_segmentation_loss_weight=3.0,
                         reconstruction_weighting="logspace", segmentation_weighting="uniform")
    total, parts = loss(recs, target, segs, labels)
    w = torch.logspace(-1, 0, 3)
    w = w / w.sum()
    rec = sum(wi * (0.3 * F.l1_loss(r, target) + 0.7 * F.mse_loss(r, target))
              for wi, r in zip(w, recs, strict=True))
    seg = sum(0.5 * 2.0 * F.cross_entropy(s, labels) for s in segs)
    torch.testing.assert_close(parts["reconstruction_loss"], rec)
    torch.testing.assert_close(parts["segmentation_loss"], seg)
    torch.testing.assert_close(total, 0.5 * rec + 3.0 * seg)


def test_last_weighting_uses_the_final_estimates_only():
    recs, target, segs, labels = _inputs()
    loss = MultiTaskLoss({"l1": 1.0}, {"cross_entropy": 1.0},
                         reconstruction_weighting="last", segmentation_weighting="last")
    total, _ = loss(recs, target, segs, labels)
    torch.testing.assert_close(total, F.l1_loss(recs[-1], target) +
                               F.cross_entropy(segs[-1], labels))


def test_segmentation_only_training_is_allowed_but_not_no_task():
    recs, target, segs, labels = _inputs()
    loss = MultiTaskLoss(total_reconstruction_loss_weight=0.0)
    total, parts = loss(recs, target, segs, labels)
    torch.testing.assert_close(total, parts["segmentation_loss"])
    with pytest.raises(ValueError, match="not both 0"):
        MultiTaskLoss(total_reconstruction_loss_weight=0.0, total_segmentation_loss_weight=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        MultiTaskLoss(total_segmentation_loss_weight=-1.0)


def test_bad_names_fail_at_construction():
    with pytest.raises(ValueError, match="expected last, uniform or logspace"):
        MultiTaskLoss(segmentation_weighting="mean")
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        MultiTaskLoss({"huber": 1.0})
    with pytest.raises(ValueError, match="unknown loss 'bce'"):
        MultiTaskLoss(segmentation_loss={"bce": 1.0})


def test_gradients_reach_both_tasks():
    recs, target, segs, labels = _inputs(n_rec=1, n_seg=1)
    recs = [recs[0].requires_grad_()]
    segs = [segs[0].requires_grad_()]
    total, _ = MultiTaskLoss()(recs, target, segs, labels)
    total.backward()
    assert recs[0].grad.abs().sum() > 0 and segs[0].grad.abs().sum() > 0
