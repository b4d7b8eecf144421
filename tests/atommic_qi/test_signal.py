"""Signal models: formulas against NumPy, units, conversions, Jacobians against autograd."""

import math

import numpy as np
import pytest
import torch

from atommic_qi.physics import MAP_NAMES, SIGNAL_MODELS, echo_times_seconds, get_signal_model

TES = [3.0, 11.5, 20.0, 28.5]


def _numpy_gre(maps, tes_ms):
    r2, s0, b0, phi = (maps[:, k, None] for k in range(4))
    t = np.asarray(tes_ms)[None, :, None, None] * 1e-3
    return s0 * np.exp(-r2 * t) * np.exp(1j * (phi + 2 * np.pi * b0 * t))


def _numpy_atommic_megre(maps, tes_ms):
    """ATOMMIC's MEGRESignalModel: real/imag stacking of (S0 + i phi) e^{-TE R2*} e^{-i TE B0}."""
    r2, s0, b0, phi = (maps[:, k, None] for k in range(4))
    te = np.asarray(tes_ms)[None, :, None, None] * 1e-3
    first, second, third = np.exp(-te * r2), np.cos(b0 * -te), np.sin(b0 * -te)
    real = s0 * first * second - phi * first * third
    imag = s0 * first * third + phi * first * second
    return real + 1j * imag


@pytest.mark.parametrize("shape", [(6, 7), (8, 8)])
def test_gre_signal_matches_numpy_in_stated_units(make_maps, shape):
    maps = make_maps(2, *shape)
    got = get_signal_model("gre").signal(maps, TES)
    np.testing.assert_allclose(got.numpy(), _numpy_gre(maps.numpy(), TES), rtol=1e-12)
    # TE in ms: at TE = 1000 ms the magnitude decays by exp(-R2*) exactly
    one_second = get_signal_model("gre").signal(maps, [1000.0])[:, 0].abs()
    np.testing.assert_allclose(one_second, maps[:, 1] * torch.exp(-maps[:, 0]), rtol=1e-10)


def test_atommic_megre_matches_atommics_formula(make_maps):
    maps = make_maps(2, 5, 6)
    got = get_signal_model("atommic_megre").signal(maps, TES)
    np.testing.assert_allclose(got.numpy(), _numpy_atommic_megre(maps.numpy(), TES), rtol=1e-12)


def test_conversions_give_the_same_echoes_and_round_trip(make_maps):
    gre, megre = get_signal_model("gre"), get_signal_model("atommic_megre")
    maps = make_maps(2, 5, 6)
    converted = megre.from_gre(maps)
    torch.testing.assert_close(megre.signal(converted, TES), gre.signal(maps, TES))
    back = megre.to_gre(converted)
    torch.testing.assert_close(back[:, :3], maps[:, :3])
    wrapped = torch.remainder(back[:, 3] - maps[:, 3] + math.pi, 2 * math.pi) - math.pi
    assert wrapped.abs().max() < 1e-12
    # B0 in rad/s with the opposite sign: 10 Hz -> -20 pi rad/s
    assert float(megre.from_gre(torch.tensor([[[[1.0]], [[1.0]], [[10.0]], [[0.0]]]]))
                 [0, 2, 0, 0]) == pytest.approx(-20 * math.pi)


@pytest.mark.parametrize("name", list(SIGNAL_MODELS))
def test_jacobian_matches_autograd(make_maps, name):
    model = get_signal_model(name)
    maps = make_maps(1, 3, 4)
    jac = model.jacobian(maps, TES)  # [B, 4, E, H, W]
    for part in (torch.real, torch.imag):
        auto = torch.autograd.functional.jacobian(
            lambda m, part=part: part(model.signal(m, TES)), maps)
        # auto: [B, E, H, W, B, 4, H, W]; the model is pixel-wise: take the diagonal
        diag = torch.einsum("behwbkhw->bkehw", auto)
        torch.testing.assert_close(part(jac), diag)


def test_echo_times_are_checked_and_broadcast():
    assert echo_times_seconds(TES).shape == (1, 4, 1, 1)
    assert echo_times_seconds(torch.tensor([TES, TES]), batch=2).shape == (2, 4, 1, 1)
    assert echo_times_seconds(TES, batch=3).shape == (3, 4, 1, 1)
    assert float(echo_times_seconds([28.5])[0, 0]) == pytest.approx(0.0285)
    with pytest.raises(ValueError, match="positive TEs in ms"):
        echo_times_seconds([3.0, -1.0])
    with pytest.raises(ValueError, match=r"TEs \[E\] or \[B, E\]"):
        echo_times_seconds(torch.ones(1, 2, 3))


def test_bad_maps_and_names_are_one_line_errors():
    model = get_signal_model(None)
    assert model.name == "gre" and len(model.units) == len(MAP_NAMES)
    with pytest.raises(ValueError, match=r"expected real maps \[B, 4, H, W\]"):
        model.signal(torch.ones(1, 3, 4, 4), TES)
    with pytest.raises(ValueError, match="signal_model: expected one of gre, atommic_megre"):
        get_signal_model("megre2")
    assert model.unit(0) == "1/s" and model.unit(2) == "Hz"


def test_global_rng_untouched(make_maps):
    state = torch.get_rng_state()
    get_signal_model("gre").jacobian(make_maps(1, 4, 4), TES)
    assert torch.equal(state, torch.get_rng_state())
