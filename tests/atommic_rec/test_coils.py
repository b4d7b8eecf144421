import numpy as np
import pytest
import torch

from atommic_rec.physics import (
    channels_to_complex,
    complex_to_channels,
    rss,
    rss_complex,
    sense_expand,
    sense_reduce,
)


def test_rss_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 7)).astype(np.float32)
    np.testing.assert_allclose(rss(torch.from_numpy(x)).numpy(),
                               np.sqrt((x**2).sum(1)), rtol=1e-5)


def test_rss_complex_matches_numpy_and_dim():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 5, 6)) + 1j * rng.standard_normal((3, 5, 6))).astype(np.complex64)
    out = rss_complex(torch.from_numpy(x), dim=0)
    assert out.dtype == torch.float32 and out.shape == (5, 6)
    np.testing.assert_allclose(out.numpy(), np.sqrt((np.abs(x) ** 2).sum(0)), rtol=1e-5)
    torch.testing.assert_close(rss(torch.from_numpy(x), dim=0), out)


def test_rss_complex_rejects_real():
    with pytest.raises(ValueError, match="complex64"):
        rss_complex(torch.randn(2, 3, 3))


def test_sense_expand_reduce_match_numpy_and_are_adjoint():
    rng = np.random.default_rng(2)

    def cplx(*s):
        return (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(np.complex64)

    img, maps, coil = cplx(2, 5, 6), cplx(2, 3, 5, 6), cplx(2, 3, 5, 6)
    e = sense_expand(torch.from_numpy(img), torch.from_numpy(maps))
    r = sense_reduce(torch.from_numpy(coil), torch.from_numpy(maps))
    np.testing.assert_allclose(e.numpy(), img[:, None] * maps, rtol=1e-5)
    np.testing.assert_allclose(r.numpy(), (np.conj(maps) * coil).sum(1), rtol=1e-4, atol=1e-5)
    lhs = np.vdot(e.numpy(), coil)  # <E x, y>
    rhs = np.vdot(img, r.numpy())  # <x, E^H y>
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


def test_sense_shape_errors_name_expected_shape():
    maps = torch.zeros(1, 3, 4, 4, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        sense_expand(torch.zeros(1, 4, 5, dtype=torch.complex64), maps)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        sense_reduce(torch.zeros(1, 4, 4, dtype=torch.complex64), maps)
    with pytest.raises(ValueError, match="complex64"):
        sense_expand(torch.zeros(1, 4, 4), maps)


def test_complex_channels_roundtrip():
    x = torch.randn(2, 3, 5, 4, dtype=torch.complex64)
    ch = complex_to_channels(x)
    assert ch.shape == (2, 3, 2, 5, 4) and ch.dtype == torch.float32
    torch.testing.assert_close(ch[..., 0, :, :], x.real)
    torch.testing.assert_close(ch[..., 1, :, :], x.imag)
    torch.testing.assert_close(channels_to_complex(ch), x)
    assert channels_to_complex(ch.half()).dtype == torch.complex64
    with pytest.raises(ValueError, match=r"\[\.\.\., 2, H, W\]"):
        channels_to_complex(torch.randn(3, 5, 4))


def test_sense_reduce_broadcasts_maps_over_batch():
    maps = torch.randn(3, 4, 5, dtype=torch.complex64)
    coil = torch.randn(2, 3, 4, 5, dtype=torch.complex64)
    expanded = maps.expand(2, -1, -1, -1)
    torch.testing.assert_close(sense_reduce(coil, maps), sense_reduce(coil, expanded))
