import pytest
import torch

from atommic_rec.losses import (
    SSIMLoss,
    WeightedLoss,
    build_loss,
    intermediate_weights,
    iterative_loss,
)
from atommic_rec.metrics import ssim


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(2, 12, 12, generator=g)
    return t, (t + 0.1 * torch.randn(2, 12, 12, generator=g)).abs()


def test_weighted_sum_equals_manual_combination():
    t, p = _pair()
    got = build_loss({"l1": 0.1, "ssim": 0.9})(p, t)
    want = 0.1 * (p - t).abs().mean() + 0.9 * (1 - ssim(t, p).mean())
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert build_loss("mse")(p, t).item() == pytest.approx(((p - t) ** 2).mean().item(), rel=1e-6)
    assert build_loss(None)(p, t).item() == pytest.approx((p - t).abs().mean().item(), rel=1e-6)


def test_ssim_loss_is_differentiable_and_zero_at_target():
    t, p = _pair(1)
    p.requires_grad_(True)
    loss = SSIMLoss()(p, t)
    loss.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert SSIMLoss()(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_unknown_loss_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown loss 'ssmi'"):
        WeightedLoss({"ssmi": 1.0})


def test_intermediate_weighting_schemes():
    w = intermediate_weights(4, "logspace")
    assert w.sum().item() == pytest.approx(1.0) and torch.all(w[1:] > w[:-1])
    assert intermediate_weights(3, "last").tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="weighting"):
        intermediate_weights(3, "exp")


def test_iterative_loss_weights_intermediate_outputs():
    t, p = _pair(2)
    loss = build_loss({"l1": 1.0})
    preds = [t + 1.0, p]  # a bad early estimate
    last = iterative_loss(loss, preds, t, weighting="last")
    assert last.item() == pytest.approx(loss(p, t).item(), rel=1e-6)
    uni = iterative_loss(loss, preds, t, weighting="uniform")
    assert uni.item() == pytest.approx(0.5 * (1.0 + loss(p, t).item()), rel=1e-5)
