"""Lion against hand-computed steps (Chen et al. 2023)."""

from __future__ import annotations

import pytest
import torch

from atommic_core.optim.lion import Lion


def _param(values, grad):
    p = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def _t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_two_steps_two_groups_hand_computed():
    a = _param([1.0, 1.0, 1.0], [1.0, -2.0, 0.5])
    b = _param([2.0, -1.0], [0.3, 0.0])
    opt = Lion([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 0.1}],
               lr=0.01, betas=(0.9, 0.99))
    opt.step()
    # m starts at 0, so the first direction is sign(g)
    torch.testing.assert_close(a.data, _t([0.99, 1.01, 0.99]))
    # multiplicative decay w * (1 - lr * wd); a zero gradient gives sign 0: decay only
    torch.testing.assert_close(b.data, _t([2.0 * 0.95 - 0.5, -1.0 * 0.95]))
    # m1 = 0.01 * g1 = [0.01, -0.02, 0.005]; with g2 the interpolation keeps m1's sign
    a.grad = _t([-0.05, 0.1, 0.0])
    b.grad = None
    opt.step()
    c = [0.9 * 0.01 + 0.1 * -0.05, 0.9 * -0.02 + 0.1 * 0.1, 0.9 * 0.005]
    assert [x > 0 for x in c] == [True, False, True]
    torch.testing.assert_close(a.data, _t([0.98, 1.02, 0.98]))
    m2 = [0.99 * 0.01 + 0.01 * -0.05, 0.99 * -0.02 + 0.01 * 0.1, 0.99 * 0.005]
    torch.testing.assert_close(opt.state[a]["exp_avg"], _t(m2))


def test_weight_decay_is_multiplicative_not_l2():
    # With L2 decay folded into the gradient, sign() would erase its size; Lion shrinks
    # the weight by exactly (1 - lr * wd) before the sign step.
    p = _param([10.0, 0.1], [1.0, 1.0])
    Lion([p], lr=0.1, weight_decay=0.5).step()
    torch.testing.assert_close(p.data, _t([10.0 * 0.95 - 0.1, 0.1 * 0.95 - 0.1]))


def test_complex_parameter_matches_real_view():
    z = torch.nn.Parameter(torch.tensor([1.0 + 2.0j, -1.0 + 0.5j]))
    r = torch.nn.Parameter(torch.view_as_real(z.detach()).clone())
    z.grad = torch.tensor([0.3 - 0.1j, -0.2 + 0.4j])
    r.grad = torch.view_as_real(z.grad).clone()
    for p in (z, r):
        Lion([p], lr=0.1, weight_decay=0.01).step()
    torch.testing.assert_close(torch.view_as_real(z.data), r.data)


def test_converges_on_ill_conditioned_quadratic():
    curv = torch.tensor([1.0, 10.0, 100.0])
    target = torch.tensor([1.0, -2.0, 0.5])
    w = torch.nn.Parameter(torch.zeros(3))
    opt = Lion([w], lr=0.02, betas=(0.9, 0.9))  # beta2 0.99 oscillates for longer
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1.0 + 0.01 * t))
    for _ in range(400):
        opt.zero_grad()
        (0.5 * curv * (w - target) ** 2).sum().backward()
        opt.step()
        sched.step()
    assert torch.allclose(w.detach(), target, atol=0.02), w


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"lr": 0.1, "betas": (1.5, 0.9)},
                                    {"lr": 0.1, "weight_decay": -1.0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Lion"):
        Lion([torch.nn.Parameter(torch.zeros(1))], **kwargs)
