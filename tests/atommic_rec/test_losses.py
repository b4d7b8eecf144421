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


def test_nested_logspace_weights_are_atommics_cascade_times_time_step_weights():
    # ATOMMIC's CIRIM loss: sum_c wc[c] / C * sum_t wt[t] / T * L[c, t], wc/wt = logspace(-1, 0)
    cascades, steps = 3, 4
    losses = torch.rand(cascades, steps, generator=torch.Generator().manual_seed(0))
    wc, wt = torch.logspace(-1, 0, cascades), torch.logspace(-1, 0, steps)
    atommic = sum(wc[c] / cascades * sum(wt[t] * losses[c, t] for t in range(steps)) / steps
                  for c in range(cascades))
    scale = wc.sum() / cascades * wt.sum() / steps  # ATOMMIC's weights are not normalised
    ours = (intermediate_weights((cascades, steps)) * losses.flatten()).sum()
    assert ours.item() == pytest.approx((atommic / scale).item(), rel=1e-5)
    # one level is the flat case; the weight of cascade 0's last step is not the flat one
    assert torch.allclose(intermediate_weights((5,)), intermediate_weights(5))
    assert intermediate_weights((2, 3))[2] < intermediate_weights(6)[2]


def test_iterative_loss_checks_the_levels_against_the_outputs():
    t, p = _pair(2)
    with pytest.raises(ValueError, match="expected 6 predictions for levels \\[2, 3\\]; found 2"):
        iterative_loss(build_loss("l1"), [t, p], t, levels=(2, 3))
    with pytest.raises(ValueError, match="level sizes >= 1"):
        intermediate_weights((2, 0))
