"""Segmentation losses vs hand formulas and torch references."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from atommic_seg.losses import (
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GeneralizedDiceLoss,
    build_loss,
)


def _logits_for(target: torch.Tensor, classes: int, scale: float = 20.0) -> torch.Tensor:
    return F.one_hot(target, classes).movedim(-1, 1).float() * scale


def _data(seed=0, classes=3, shape=(2, 6, 5)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape[0], classes, *shape[1:], generator=g)
    target = torch.randint(0, classes, shape, generator=g)
    return logits, target


def test_dice_perfect_and_wrong():
    target = torch.tensor([[[0, 1], [2, 1]]])
    assert DiceLoss()(_logits_for(target, 3), target) < 1e-4
    wrong = (target + 1) % 3
    assert DiceLoss()(_logits_for(wrong, 3), target) > 0.99


def test_dice_hand_formula_and_background_switch():
    logits, target = _data()
    probs = logits.softmax(1)
    onehot = F.one_hot(target, 3).movedim(-1, 1).float()
    inter = (probs * onehot).sum((2, 3))
    den = probs.sum((2, 3)) + onehot.sum((2, 3))
    dice = (2 * inter + 1e-5) / (den + 1e-5)
    assert DiceLoss()(logits, target) == pytest.approx(float(1 - dice.mean()), rel=1e-5)
    no_bg = DiceLoss(include_background=False)(logits, target)
    assert no_bg == pytest.approx(float(1 - dice[:, 1:].mean()), rel=1e-5)


def test_index_and_one_hot_targets_agree():
    logits, target = _data(1)
    onehot = F.one_hot(target, 3).movedim(-1, 1)
    for loss in (DiceLoss(), GeneralizedDiceLoss(), CrossEntropyLoss(), FocalLoss()):
        assert loss(logits, target) == pytest.approx(float(loss(logits, onehot)), rel=1e-5)


def test_generalized_dice_hand_formula():
    logits, target = _data(2)
    probs = logits.softmax(1)
    onehot = F.one_hot(target, 3).movedim(-1, 1).float()
    w = 1 / onehot.sum((2, 3)) ** 2
    num = (w * (probs * onehot).sum((2, 3))).sum(1)
    den = (w * (probs.sum((2, 3)) + onehot.sum((2, 3)))).sum(1)
    expected = 1 - ((2 * num + 1e-5) / (den + 1e-5)).mean()
    assert GeneralizedDiceLoss()(logits, target) == pytest.approx(float(expected), rel=1e-5)


def test_generalized_dice_absent_class_is_finite():
    logits = torch.randn(1, 3, 4, 4)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    assert torch.isfinite(GeneralizedDiceLoss()(logits, target))


def test_generalized_dice_empty_class_weight_does_not_swamp_present_classes():
    # regression: an empty class got weight 1 while present classes got ~1/800^2, so this
    # 95%-Dice prediction scored a loss of 0.9999 instead of about 0.065 (0.05 for the present
    # classes plus the probability mass the prediction puts on the absent class)
    target = torch.zeros(1, 40, 40, dtype=torch.long)
    target[:, 20:] = 1  # class 0 top half, class 1 bottom half, class 2 absent
    onehot = F.one_hot(target, 3).movedim(-1, 1).float()
    q = 0.9345  # probability of the true class, the rest split evenly: soft Dice 4q/(3+q)
    probs = onehot * q + (1 - onehot) * (1 - q) / 2
    logits = probs.log()
    inter, p_sum, t_sum = ((probs * onehot).sum((2, 3)), probs.sum((2, 3)),
                           onehot.sum((2, 3)))
    assert (2 * inter / (p_sum + t_sum))[0, :2].tolist() == pytest.approx([0.95, 0.95],
                                                                         abs=1e-4)
    w = 1 / t_sum**2
    w[:, 2] = w[:, :2].max()  # Sudre et al. / MONAI: the empty class gets the largest weight
    expected = 1 - (2 * (w * inter).sum(1) + 1e-5) / ((w * (p_sum + t_sum)).sum(1) + 1e-5)
    loss = GeneralizedDiceLoss()(logits, target)
    assert float(loss) == pytest.approx(float(expected), rel=1e-4)
    assert 0.05 < float(loss) < 0.07


def test_generalized_dice_all_classes_empty_uses_equal_weights():
    logits = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    target = torch.zeros(2, 4, 4, dtype=torch.long)  # foreground (classes 1, 2) empty
    probs = logits.softmax(1)[:, 1:]
    expected = 1 - (1e-5 / (probs.sum((2, 3)).sum(1) + 1e-5)).mean()
    loss = GeneralizedDiceLoss(include_background=False)(logits, target)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_cross_entropy_categorical_and_binary():
    logits, target = _data(3)
    assert CrossEntropyLoss()(logits, target) == pytest.approx(
        float(F.cross_entropy(logits, target)), rel=1e-6)
    ml_target = (torch.rand_like(logits) > 0.5).float()
    expected = F.binary_cross_entropy_with_logits(logits, ml_target)
    assert CrossEntropyLoss(mode="multilabel")(logits, ml_target) == pytest.approx(
        float(expected), rel=1e-6)


def test_focal_gamma_zero_is_cross_entropy_and_downweights_easy():
    logits, target = _data(4)
    assert FocalLoss(gamma=0.0)(logits, target) == pytest.approx(
        float(F.cross_entropy(logits, target)), rel=1e-5)
    assert FocalLoss(gamma=2.0)(logits, target) < FocalLoss(gamma=0.0)(logits, target)
    ml = (torch.rand_like(logits) > 0.5).float()
    assert FocalLoss(mode="multilabel", gamma=0.0)(logits, ml) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(logits, ml)), rel=1e-5)


def test_weighted_sum_from_dict_and_gradients():
    logits, target = _data(5)
    logits.requires_grad_(True)
    loss = build_loss({"dice": {"weight": 0.5, "include_background": False},
                       "cross_entropy": 2.0})
    value = loss(logits, target)
    with torch.no_grad():
        expected = (0.5 * DiceLoss(include_background=False)(logits, target)
                    + 2.0 * F.cross_entropy(logits, target))
    assert float(value.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert set(loss.last_parts) == {"dice", "cross_entropy"}
    value.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_bad_specs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown loss 'dcie'"):
        build_loss({"dcie": 1.0})
    with pytest.raises(ValueError, match="mode"):
        DiceLoss(mode="binary")
    with pytest.raises(ValueError, match="target"):
        DiceLoss(mode="multilabel")(torch.randn(1, 2, 3, 3), torch.zeros(1, 3, 3))
