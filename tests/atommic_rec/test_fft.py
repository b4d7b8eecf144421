import numpy as np
import pytest
import torch

from atommic_rec.physics import fft2, ifft2

NP_NORM = {"ortho": "ortho", "backward": "backward", "forward": "forward", "none": "backward"}


def _np_fft(x, centered, norm, inverse=False, axes=(-2, -1)):
    f = np.fft.ifft2 if inverse else np.fft.fft2
    if centered:
        return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axes), axes=axes, norm=norm), axes=axes)
    return f(x, axes=axes, norm=norm)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 9), (5, 6), (1, 6, 10), (3, 4, 12)])
@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("norm", ["ortho", "backward", "forward", "none"])
def test_fft_matches_numpy(shape, centered, norm):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    t = torch.from_numpy(x)
    out = fft2(t, centered=centered, normalization=norm)
    back = ifft2(t, centered=centered, normalization=norm)
    assert out.dtype == torch.complex64
    np.testing.assert_allclose(out.numpy(), _np_fft(x, centered, NP_NORM[norm]), atol=1e-4)
    np.testing.assert_allclose(back.numpy(), _np_fft(x, centered, NP_NORM[norm], True),
                               atol=1e-4)
    np.testing.assert_allclose(
        ifft2(out, centered=centered, normalization=norm).numpy(), x, atol=1e-4)


def test_fft_other_spatial_dims_matches_numpy():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 3, 7)) + 1j * rng.standard_normal((5, 3, 7))).astype(np.complex64)
    out = fft2(torch.from_numpy(x), spatial_dims=(0, 2))
    np.testing.assert_allclose(out.numpy(), _np_fft(x, True, "ortho", axes=(0, 2)), atol=1e-4)


def test_centered_dc_is_in_the_middle():
    x = torch.ones(7, 6, dtype=torch.complex64)
    k = fft2(x)
    assert k.abs().argmax().item() == (7 // 2) * 6 + 6 // 2


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_real_stacked_low_precision_computes_in_complex64(dtype):
    x = torch.randn(2, 6, 5, dtype=torch.complex64)
    stacked = torch.view_as_real(x).to(dtype)
    out = fft2(stacked)
    assert out.dtype == torch.complex64
    ref = fft2(torch.view_as_complex(stacked.float().contiguous()))
    torch.testing.assert_close(out, ref)


def test_under_autocast_stays_complex64():
    x = torch.randn(2, 8, 8, dtype=torch.complex64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ifft2(fft2(x))
    assert out.dtype == torch.complex64
    torch.testing.assert_close(out, x, atol=1e-5, rtol=1e-5)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="complex64"):
        fft2(torch.randn(4, 5))
    with pytest.raises(ValueError, match="normalization"):
        fft2(torch.randn(4, 4, dtype=torch.complex64), normalization="unitary")
    with pytest.raises(ValueError, match="spatial_dims"):
        fft2(torch.randn(4, 4, dtype=torch.complex64), spatial_dims=(1, 2))
    with pytest.raises(ValueError, match="spatial_dims"):
        fft2(torch.randn(4, 4, dtype=torch.complex64), spatial_dims=(1, -1))


def test_does_not_modify_input():
    x = torch.randn(3, 4, 4, dtype=torch.complex64)
    before = x.clone()
    fft2(x)
    ifft2(x, centered=False)
    torch.testing.assert_close(x, before)


def test_centered_fft_gradients_match_numpy_adjoint():
    x = torch.randn(2, 6, 10, dtype=torch.complex64, requires_grad=True)
    w = torch.randn(2, 6, 10, dtype=torch.complex64)
    (fft2(x) * w.conj()).real.sum().backward()
    # ortho FFT is unitary: d/dx Re<F x, w> = F^H w = ifft2(w)
    torch.testing.assert_close(x.grad, ifft2(w), atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_traces_under_torch_compile_without_graph_breaks():
    import torch._dynamo

    def roundtrip(x):
        return ifft2(fft2(x, centered=True), centered=True)

    x = torch.randn(2, 8, 6, dtype=torch.complex64)
    explained = torch._dynamo.explain(roundtrip)(x)
    assert explained.graph_count == 1 and explained.graph_break_count == 0
