import pytest
import torch

from atommic_rec.physics import (
    adjoint_operator,
    apply_mask,
    fft2,
    forward_operator,
    ifft2,
    sense_expand,
)


def _cplx(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex64, generator=g)


@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
@pytest.mark.parametrize("centered", [True, False])
def test_forward_and_adjoint_are_adjoint(size, centered):
    h, w = size
    x, y, maps = _cplx(2, h, w, seed=1), _cplx(2, 3, h, w, seed=2), _cplx(2, 3, h, w, seed=3)
    mask = (torch.rand(2, 1, 1, w, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    ax = forward_operator(x, maps, mask, centered=centered)
    ahy = adjoint_operator(y, maps, mask, centered=centered)
    lhs = torch.vdot(ax.flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), ahy.flatten())
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-3)


def test_forward_operator_definition():
    x, maps = _cplx(1, 6, 6, seed=5), _cplx(1, 2, 6, 6, seed=6)
    mask = torch.zeros(1, 1, 1, 6)
    mask[..., ::2] = 1
    ref = mask * fft2(sense_expand(x, maps), normalization="backward")
    torch.testing.assert_close(forward_operator(x, maps, mask, normalization="backward"), ref)
    k = forward_operator(x, maps, None)
    torch.testing.assert_close(adjoint_operator(k, maps, None),
                               (ifft2(k) * maps.conj()).sum(1))


def test_apply_mask():
    k = _cplx(1, 2, 4, 5)
    mask = torch.tensor([1.0, 0, 1, 0, 1]).view(1, 1, 1, 5)
    out = apply_mask(k, mask)
    assert out.dtype == torch.complex64
    assert torch.all(out[..., 1] == 0) and torch.equal(out[..., 0], k[..., 0])
    torch.testing.assert_close(apply_mask(k, mask.bool()), out)
    assert apply_mask(k, None) is k
    with pytest.raises(ValueError, match="broadcastable"):
        apply_mask(k, torch.ones(1, 1, 1, 4))
