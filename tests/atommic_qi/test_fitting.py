"""The closed-form map fit: exact recovery, wrap robustness, masks, ranges, smoothing."""

import math

import numpy as np
import pytest
import torch

from atommic_qi.fitting import clip_maps, fit_maps, gaussian_smooth, parse_ranges
from atommic_qi.physics import SIGNAL_MODELS, get_signal_model

TES = [3.0, 11.5, 20.0, 28.5]


def _relative_error(estimate, truth):
    return ((estimate - truth).abs() / truth.abs().clamp_min(1e-3)).amax(dim=(0, 2, 3))


@pytest.mark.parametrize("shape", [(7, 9), (8, 8)])
@pytest.mark.parametrize("name", list(SIGNAL_MODELS))
def test_noiseless_maps_are_recovered_to_1e_4(make_maps, shape, name):
    model = get_signal_model(name)
    truth = model.from_gre(make_maps(2, *shape, b0_max=55.0)).float()  # float32 like the data
    echoes = model.signal(truth, TES)
    fitted = fit_maps(echoes, TES, signal_model=name)
    assert fitted.dtype == torch.float32 and fitted.shape == truth.shape
    assert _relative_error(fitted, truth).max() < 1e-4


def test_unequal_echo_spacing_and_per_item_echo_times(make_maps):
    truth = make_maps(2, 5, 6)
    tes = torch.tensor([[2.0, 5.0, 13.0], [4.0, 9.0, 11.0]], dtype=torch.float64)
    fitted = fit_maps(get_signal_model("gre").signal(truth, tes), tes)
    assert _relative_error(fitted, truth).max() < 1e-9


def test_b0_is_robust_to_wraps_of_the_absolute_phase(make_maps):
    truth = make_maps(1, 6, 6, b0_max=55.0)
    truth[:, 2] = torch.linspace(-55, 55, 36, dtype=torch.float64).view(1, 6, 6)
    echoes = get_signal_model("gre").signal(truth, TES)
    phases = 2 * math.pi * truth[:, 2:3] * torch.tensor(TES, dtype=torch.float64).view(
        1, -1, 1, 1) * 1e-3
    assert phases.abs().max() > 3 * math.pi  # the echo phases wrap more than once
    torch.testing.assert_close(fit_maps(echoes, TES)[:, 2], truth[:, 2])


def test_b0_beyond_the_adjacent_echo_limit_aliases_as_documented(make_maps):
    truth = make_maps(1, 2, 2)
    limit = 1 / (2 * 8.5e-3)  # 58.8 Hz for AHEAD's 8.5 ms spacing
    truth[:, 2] = limit + 5.0
    fitted = fit_maps(get_signal_model("gre").signal(truth, TES), TES)
    torch.testing.assert_close(fitted[:, 2], truth[:, 2] - 2 * limit)


def test_mask_ranges_and_clipping(make_maps):
    truth = make_maps(1, 6, 6)
    echoes = get_signal_model("gre").signal(truth, TES)
    mask = torch.zeros(1, 6, 6)
    mask[:, 1:4, 2:5] = 1
    fitted = fit_maps(echoes, TES, mask, ranges={"R2star": [10.0, 20.0], "B0": None})
    assert (fitted[..., mask[0] == 0] == 0).all()
    inside = fitted[0, 0][mask[0] == 1]
    assert inside.min() >= 10.0 and inside.max() <= 20.0
    clipped = clip_maps(truth, parse_ranges({"S0": [None, 0.5]}))
    assert clipped[:, 1].max() <= 0.5 and torch.equal(clipped[:, 2], truth[:, 2])


def test_parse_ranges_defaults_and_errors():
    ranges = parse_ranges(None)
    assert ranges["R2star"] == (0.0, 500.0) and ranges["phi"] == (-math.pi, math.pi)
    assert parse_ranges(None, "atommic_megre")["S0"] == (None, None)
    with pytest.raises(ValueError, match="unknown map 'T1'"):
        parse_ranges({"T1": [0, 1]})
    with pytest.raises(ValueError, match="low <= high"):
        parse_ranges({"B0": [5, -5]})


def test_smoothing_reduces_the_noise_of_the_fit(make_maps):
    truth = make_maps(1, 24, 24)
    truth[:] = truth[:, :, :1, :1]  # constant maps: smoothing only removes noise
    echoes = get_signal_model("gre").signal(truth, TES)
    g = torch.Generator().manual_seed(0)
    noisy = echoes + 0.02 * torch.complex(torch.randn(echoes.shape, generator=g,
                                                      dtype=torch.float64),
                                          torch.randn(echoes.shape, generator=g,
                                                      dtype=torch.float64))
    raw = (fit_maps(noisy, TES) - truth).abs().mean(dim=(0, 2, 3))
    smooth = (fit_maps(noisy, TES, smoothing_sigma=1.5) - truth).abs().mean(dim=(0, 2, 3))
    assert (smooth < raw).all()


def test_gaussian_smooth_keeps_constants_and_matches_scipy():
    from scipy import ndimage

    image = torch.rand(2, 9, 11, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = gaussian_smooth(image, 1.0)
    want = np.stack([ndimage.gaussian_filter(im, 1.0, mode="mirror", truncate=3.0)
                     for im in image.numpy()])
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    cplx = torch.complex(image, -image)
    torch.testing.assert_close(gaussian_smooth(cplx, 1.0), torch.complex(got, -got))
    assert gaussian_smooth(image, 0.0) is image
    torch.testing.assert_close(gaussian_smooth(torch.ones(1, 5, 5), 2.0), torch.ones(1, 5, 5))


def test_fit_is_differentiable_through_empty_background(make_maps):
    truth = make_maps(1, 6, 6).float()
    echoes = get_signal_model("gre").signal(truth, TES)
    echoes = (echoes * (torch.arange(6) < 4).view(1, 1, 1, 6)).requires_grad_()  # zero columns
    fit_maps(echoes, TES).sum().backward()
    assert torch.isfinite(echoes.grad).all()


def test_bad_inputs_are_one_line_errors():
    echoes = torch.ones(1, 4, 5, 5, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"complex echo images \[B, E, H, W\] with E >= 2"):
        fit_maps(echoes[:, :1], TES[:1])
    with pytest.raises(ValueError, match="expected 4 echo times"):
        fit_maps(echoes, TES[:3])
