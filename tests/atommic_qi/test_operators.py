"""Map -> k-space operators: adjointness, REC consistency, gradients against autograd."""

import pytest
import torch

from atommic_qi.physics import (
    SIGNAL_MODELS,
    echo_adjoint,
    echo_forward,
    get_signal_model,
    jacobian_adjoint,
    likelihood_gradient,
    qmri_forward,
)
from atommic_rec.physics import forward_operator

TES = [3.0, 11.5, 20.0, 28.5]


def _cplx(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g, dtype=torch.float64),
                         torch.randn(*shape, generator=g, dtype=torch.float64))


def _inner(a, b):
    return (a.conj() * b).sum()


@pytest.mark.parametrize("shape", [(7, 9), (8, 10)])
@pytest.mark.parametrize("centered", [True, False])
def test_echo_operators_are_adjoint(shape, centered):
    b, e, c = 2, 3, 4
    x, y = _cplx(b, e, *shape, seed=0), _cplx(b, e, c, *shape, seed=1)
    maps = _cplx(b, c, *shape, seed=2)
    mask = (torch.rand(1, 1, 1, 1, shape[1], generator=torch.Generator().manual_seed(3)) > 0.4)
    kw = {"centered": centered, "normalization": "ortho"}
    lhs = _inner(echo_forward(x, maps, mask.double(), **kw), y)
    rhs = _inner(x, echo_adjoint(y, maps, mask.double(), **kw))
    assert torch.allclose(lhs, rhs, rtol=1e-10)


def test_echo_forward_is_recs_operator_per_echo(make_coils):
    x = _cplx(1, 3, 8, 8, seed=0).to(torch.complex64)
    maps = make_coils(2, 8, 8)[None]
    mask = torch.ones(1, 1, 1, 1, 8)
    mask[..., ::3] = 0
    k = echo_forward(x, maps, mask)
    assert k.shape == (1, 3, 2, 8, 8)
    for echo in range(3):
        torch.testing.assert_close(k[:, echo], forward_operator(x[:, echo], maps, mask[:, 0]))
    with pytest.raises(ValueError, match=r"sensitivity_maps: expected complex64 \[B, C, H, W\]"):
        echo_forward(x, maps[0], mask)


@pytest.mark.parametrize("name", list(SIGNAL_MODELS))
def test_jacobian_adjoint_matches_autograd_vjp(make_maps, name):
    maps = make_maps(2, 5, 6).requires_grad_()
    r = _cplx(2, 4, 5, 6, seed=4)
    echoes = get_signal_model(name).signal(maps, TES)
    (grad,) = torch.autograd.grad(torch.real(_inner(echoes, r)), maps)
    torch.testing.assert_close(jacobian_adjoint(r, maps.detach(), TES, name), grad)


@pytest.mark.parametrize("name", list(SIGNAL_MODELS))
@pytest.mark.parametrize("sigma", [1.0, 0.3])
def test_likelihood_gradient_matches_autograd_for_each_map(make_maps, make_coils, name, sigma):
    model = get_signal_model(name)
    true = model.from_gre(make_maps(2, 6, 7, seed=1))
    start = model.from_gre(make_maps(2, 6, 7, seed=2)).requires_grad_()
    coils = make_coils(3, 6, 7)[None].expand(2, -1, -1, -1).to(torch.complex128)
    mask = torch.zeros(1, 1, 1, 6, 7, dtype=torch.float64)
    mask[..., ::2, :] = 1
    tes = torch.tensor([TES, [2.0, 9.0, 17.0, 30.0]], dtype=torch.float64)
    y = qmri_forward(true, tes, coils, mask, signal_model=model)
    data_term = (qmri_forward(start, tes, coils, mask, signal_model=model) - y).abs().square()
    (auto,) = torch.autograd.grad(data_term.sum() / (2 * sigma**2), start)
    got = likelihood_gradient(start.detach(), tes, y, coils, mask, sigma, signal_model=model)
    for k in range(4):  # each map separately
        torch.testing.assert_close(got[:, k], auto[:, k], rtol=1e-9, atol=1e-12)
    zero = likelihood_gradient(true, tes, y, coils, mask, sigma, signal_model=model)
    assert zero.abs().max() < 1e-9  # the truth is a stationary point


def test_likelihood_gradient_rejects_non_positive_sigma(make_maps, make_coils):
    maps = make_maps(1, 4, 4).float()
    coils = make_coils(2, 4, 4)[None]
    y = qmri_forward(maps, TES, coils, None)
    with pytest.raises(ValueError, match="sigma > 0"):
        likelihood_gradient(maps, TES, y, coils, None, 0.0)
