import random

import numpy as np
import pytest
import torch

from atommic_core.errors import ConfigError, UnknownNameError
from atommic_rec.masks import (
    MASK_FUNCS,
    MaskFunc,
    Poisson2DMaskFunc,
    center_slice,
    create_mask_func,
    register_mask_func,
)

ALL = sorted(MASK_FUNCS)
TWO_D = {"equispaced2d", "gaussian2d", "poisson2d"}


def _make(name, accs=(4,), cfs=(0.08,), **kw):
    return create_mask_func({"type": name, "accelerations": list(accs),
                             "center_fractions": list(cfs), **kw})


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(4, 64, 64), (2, 45, 51)])
@pytest.mark.parametrize("acc", [4, 8])
def test_acceleration_within_tolerance_and_center_sampled(name, shape, acc):
    mask, achieved = _make(name, [acc], [0.08])(shape, seed=3)
    assert mask.dtype == torch.float32 and mask.ndim == len(shape)
    torch.broadcast_shapes(mask.shape, shape)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert achieved == pytest.approx(mask.numel() / mask.sum().item())
    assert achieved == pytest.approx(acc, rel=0.25)
    h, w = shape[-2:]
    cw = center_slice(w, round(0.08 * w))
    if name in TWO_D:
        assert mask.shape[-2:] == (h, w)
        assert torch.all(mask[0, center_slice(h, round(0.08 * h)), cw] == 1)
    else:
        assert mask.shape[-2:] == (1, w)
        assert torch.all(mask[..., cw] == 1)


@pytest.mark.parametrize("name", ["random1d", "gaussian2d"])
def test_average_acceleration_is_nominal(name):
    func = _make(name, [6], [0.06])
    rng = np.random.default_rng(0)
    accs = [func((1, 96, 96), generator=rng)[1] for _ in range(20)]
    assert np.mean(accs) == pytest.approx(6, rel=0.08)


@pytest.mark.parametrize("name", ALL)
def test_seeded_deterministic_and_global_rng_untouched(name):
    func = _make(name, [4, 8], [0.08, 0.04])
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    a, acc_a = func((2, 40, 48), seed="file_a.h5")
    b, acc_b = func((2, 40, 48), seed="file_a.h5")
    assert torch.equal(a, b) and acc_a == acc_b
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]
    others = [func((2, 40, 48), seed=f"file_{i}.h5")[0] for i in range(6)]
    assert any(not torch.equal(a, o) for o in others)


def test_accelerations_are_chosen_among_several():
    func = _make("equispaced1d", [4, 8], [0.08, 0.04])
    accs = {4 if func((1, 64, 128), seed=s)[1] < 6 else 8 for s in range(20)}
    assert accs == {4, 8}


def test_variable_density_masks_are_denser_at_the_centre():
    for name in ("gaussian2d", "poisson2d"):
        mask = _make(name, [6], [0.04])((1, 96, 96), seed=1)[0][0]
        inner, outer = mask[32:64, 32:64].mean(), mask[:16, :16].mean()
        assert inner > 2 * outer, name


def test_poisson_points_keep_a_minimum_distance():
    mask = Poisson2DMaskFunc([5], [0.0], slope=0.0)((1, 48, 48), seed=2)[0][0]
    pts = torch.nonzero(mask).float()
    d = torch.cdist(pts, pts) + torch.eye(len(pts)) * 1e3
    assert d.min() > 1.0  # uniform radius > 1 pixel at R=5: no neighbouring samples


def test_partial_fourier_removes_one_side_keeps_center():
    full = _make("random1d", [4], [0.08])((1, 64, 100), seed=0)[0]
    pf, acc = _make("random1d", [4], [0.08], partial_fourier=0.2)((1, 64, 100), seed=0)
    assert torch.all(pf[..., :20] == 0) and torch.equal(pf[..., 20:], full[..., 20:])
    assert acc == pytest.approx(100 / pf.sum().item())
    assert torch.all(pf[..., center_slice(100, 8)] == 1)
    with pytest.raises(ValueError, match="partial_fourier"):
        _make("random1d", partial_fourier=0.6)


def test_create_mask_func_errors_and_none():
    assert create_mask_func(None) is None
    assert create_mask_func({"type": "none"}) is None
    with pytest.raises(UnknownNameError, match="random1d"):
        create_mask_func({"type": "randm1d", "accelerations": [4], "center_fractions": [0.1]})
    with pytest.raises(ConfigError, match="expected keys"):
        _make("random1d", stdd=0.3)
    with pytest.raises(ConfigError, match="type"):
        create_mask_func({"accelerations": [4]})
    with pytest.raises(ValueError, match="center_fraction"):
        _make("random1d", [4, 8], [0.1, 0.2, 0.3])


def test_create_mask_func_from_omegaconf():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"type": "gaussian1d", "accelerations": [4],
                            "center_fractions": [0.08], "std": 0.3})
    func = create_mask_func(cfg)
    assert func.std == 0.3 and func.accelerations == [4.0]


def test_register_custom_mask_overrides_one_method():
    class AllLines(MaskFunc):
        def sample_pattern(self, shape, acceleration, center_fraction, rng):
            return np.ones(shape[-1], dtype=bool)

    register_mask_func("test_all_lines", AllLines)
    try:
        mask, acc = create_mask_func({"type": "test_all_lines", "accelerations": [1],
                                      "center_fractions": [0.1]})((3, 8, 8), seed=0)
        assert acc == 1.0 and mask.shape == (1, 1, 8)
        with pytest.raises(ValueError, match="already registered"):
            register_mask_func("test_all_lines", AllLines)
    finally:
        MASK_FUNCS.pop("test_all_lines")


def test_poisson_mask_does_not_depend_on_call_history():
    # Regression: a class-level radius cache made the mask of a seed depend on earlier draws.
    shape = (1, 40, 44)
    cold = {s: Poisson2DMaskFunc([4], [0.08])(shape, seed=s)[0] for s in range(6)}
    other = Poisson2DMaskFunc([4], [0.08])
    for s in reversed(range(6)):
        other((1, 36, 30), seed=s)  # other shapes drawn in between
        Poisson2DMaskFunc([6], [0.04])(shape, seed=s + 10)
        assert torch.equal(other(shape, seed=s)[0], cold[s]), s


@pytest.mark.parametrize("shape", [(1, 48, 48), (1, 45, 51)])
@pytest.mark.parametrize("acc", [3, 6])
def test_poisson_acceleration_close_to_nominal(shape, acc):
    func = Poisson2DMaskFunc([acc], [0.08])
    accs = [func(shape, seed=s)[1] for s in range(4)]
    assert all(a == pytest.approx(acc, rel=0.03) for a in accs), accs


@pytest.mark.parametrize("shape", [(1, 64, 64), (1, 45, 51), (1, 128, 96), (1, 33, 97)])
@pytest.mark.parametrize("cf", [0.0, 0.08])
def test_equispaced2d_reaches_nominal_acceleration(shape, cf):
    # Regression: the lattice spacing was rounded to an integer (4.80x for 5x, 5.70x for 6x).
    for acc in range(2, 13):
        func = _make("equispaced2d", [acc], [cf])
        for seed in range(3):
            assert func(shape, seed=seed)[1] == pytest.approx(acc, rel=0.02), (acc, seed)


@pytest.mark.parametrize("acc", [3, 5, 7, 10, 12])
def test_equispaced2d_lattice_stays_even(acc):
    mask = _make("equispaced2d", [acc], [0.0])((1, 64, 64), seed=0)[0][0]
    pts = torch.nonzero(mask).float()
    d = torch.cdist(pts, pts) + torch.eye(len(pts)) * 1e3
    nearest = d.min(dim=1).values
    assert nearest.min() >= 0.8 * acc**0.5  # no clustering: every point keeps ~sqrt(R) apart
    rows = mask.sum(dim=1)
    assert rows.max() - rows.min() <= 1  # every row holds the same number of points (+-1)


@pytest.mark.parametrize("width", [96, 368])
def test_equispaced1d_samples_round_width_over_r_evenly_spaced_lines(width):
    # Regression: an integer offset and rounded positions missed W / R by up to 2 lines.
    for acc in range(2, 13):
        func = _make("equispaced1d", [acc], [0.04])
        for seed in range(4):
            lines = func((1, 8, width), seed=seed)[0].flatten()
            assert int(lines.sum()) == round(width / acc), (acc, seed)
            left = torch.nonzero(lines[: center_slice(width, round(0.04 * width)).start])
            gaps = left.flatten().diff()
            assert len(gaps) == 0 or gaps.max() - gaps.min() <= 1
