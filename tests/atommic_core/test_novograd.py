"""NovoGrad against hand-computed steps (Ginsburg et al. 2019, per-tensor second moment)."""

from __future__ import annotations

import math

import pytest
import torch

from atommic_core.optim.novograd import Novograd


def _param(values, grad):
    p = torch.nn.Parameter(torch.tensor(values, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def test_two_steps_two_groups_hand_computed():
    a = _param([1.0, 2.0], [3.0, 4.0])  # ||g||^2 = 25
    b = _param([2.0], [-2.0])  # ||g||^2 = 4
    opt = Novograd([{"params": [a], "lr": 0.1},
                    {"params": [b], "lr": 0.01, "weight_decay": 0.1}],
                   lr=1.0, betas=(0.9, 0.5), eps=0.0)
    opt.step()
    # step 1: v = ||g||^2, m = g / sqrt(v) + d * w, w -= lr * m
    torch.testing.assert_close(a.data, torch.tensor([1.0 - 0.1 * 0.6, 2.0 - 0.1 * 0.8],
                                                    dtype=torch.float64))
    m_b = -2.0 / 2.0 + 0.1 * 2.0
    torch.testing.assert_close(b.data, torch.tensor([2.0 - 0.01 * m_b], dtype=torch.float64))
    # step 2 on group a: v = 0.5 * 25 + 0.5 * 100, m = 0.9 * m1 + g / sqrt(v)
    a.grad = torch.tensor([0.0, 10.0], dtype=torch.float64)
    b.grad = None  # no gradient: untouched
    b_before = b.data.clone()
    opt.step()
    root_v = math.sqrt(0.5 * 25 + 0.5 * 100)
    m2 = [0.9 * 0.6 + 0.0, 0.9 * 0.8 + 10.0 / root_v]
    expected = [0.94 - 0.1 * m2[0], 1.92 - 0.1 * m2[1]]
    torch.testing.assert_close(a.data, torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(b.data, b_before)


def test_weight_decay_is_decoupled_from_gradient_scale():
    # The gradient is normalised by its layer norm; the decay term is not. So scaling the
    # gradient by any k > 0 leaves the step unchanged while weight decay still acts.
    steps = []
    for scale in (1.0, 1000.0):
        p = _param([1.0, -3.0], [scale * 0.5, scale * 1.0])
        Novograd([p], lr=0.1, weight_decay=0.2, eps=0.0).step()
        steps.append(p.data.clone())
    torch.testing.assert_close(steps[0], steps[1])
    norm = math.sqrt(0.25 + 1.0)
    expected = [1.0 - 0.1 * (0.5 / norm + 0.2 * 1.0), -3.0 - 0.1 * (1.0 / norm - 0.2 * 3.0)]
    torch.testing.assert_close(steps[0], torch.tensor(expected, dtype=torch.float64))


def test_grad_averaging_and_amsgrad():
    p = _param([0.0], [2.0])
    opt = Novograd([p], lr=1.0, betas=(0.5, 0.0), eps=0.0, grad_averaging=True, amsgrad=True)
    opt.step()  # v = 4, m = (1 - 0.5) * 2 / 2 = 0.5
    torch.testing.assert_close(p.data, torch.tensor([-0.5], dtype=torch.float64))
    p.grad = torch.tensor([1.0], dtype=torch.float64)
    opt.step()  # v = 1 but max(v) = 4: m = 0.5 * 0.5 + 0.5 * 1 / 2 = 0.5
    torch.testing.assert_close(p.data, torch.tensor([-1.0], dtype=torch.float64))


def test_complex_parameter_matches_real_view():
    z = torch.nn.Parameter(torch.tensor([1.0 + 2.0j, -1.0 + 0.5j]))
    r = torch.nn.Parameter(torch.view_as_real(z.detach()).clone())
    z.grad = torch.tensor([0.3 - 0.1j, 0.2 + 0.4j])
    r.grad = torch.view_as_real(z.grad).clone()
    for p in (z, r):
        Novograd([p], lr=0.1, weight_decay=0.01).step()
    torch.testing.assert_close(torch.view_as_real(z.data), r.data)


def test_converges_on_ill_conditioned_quadratic():
    curv = torch.tensor([1.0, 10.0, 100.0])
    target = torch.tensor([1.0, -2.0, 0.5])
    w = torch.nn.Parameter(torch.zeros(3))
    opt = Novograd([w], lr=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1.0 + 0.01 * t))
    for _ in range(600):
        opt.zero_grad()
        (0.5 * curv * (w - target) ** 2).sum().backward()
        opt.step()
        sched.step()
    assert torch.allclose(w.detach(), target, atol=0.05), w


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"lr": 0.1, "betas": (1.5, 0.9)},
                                    {"lr": 0.1, "weight_decay": -1.0}])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError, match="Novograd"):
        Novograd([torch.nn.Parameter(torch.zeros(1))], **kwargs)
