import math

import numpy as np
import pytest
import torch
from metric_references import atommic_reference, fastmri_reference
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from atommic_rec.metrics import (
    CONVENTIONS,
    VolumeMetrics,
    get_convention,
    nmse,
    psnr,
    ssim,
    volume_metrics,
)


def _pair(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(*shape, generator=g) * 3.0
    pred = target + 0.3 * torch.randn(*shape, generator=g)
    return target, pred.abs()


@pytest.mark.parametrize("shape", [(3, 20, 24), (2, 17, 19)])
def test_ssim_matches_skimage_per_slice(shape):
    target, pred = _pair(shape)
    maxval = float(target.max())
    ours = ssim(target, pred, maxval)
    for i in range(shape[0]):
        ref = structural_similarity(target[i].numpy(), pred[i].numpy(), data_range=maxval)
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)


def test_psnr_and_nmse_match_reference_per_slice():
    target, pred = _pair((2, 16, 16), seed=1)
    for i in range(2):
        t, p = target[i].numpy(), pred[i].numpy()
        assert psnr(target[i], pred[i], float(t.max())).item() == pytest.approx(
            peak_signal_noise_ratio(t, p, data_range=float(t.max())), rel=1e-5)
        ref_nmse = np.linalg.norm(t - p) ** 2 / np.linalg.norm(t) ** 2
        assert nmse(target[i], pred[i]).item() == pytest.approx(ref_nmse, rel=1e-5)


def test_volume_metrics_use_volume_max_fastmri_convention():
    target, pred = _pair((4, 16, 16), seed=2)
    target[0] *= 5  # one bright slice sets the volume max
    t, p = target.numpy(), pred.numpy()
    maxval = float(t.max())
    got = volume_metrics(target, pred)
    ref_ssim = np.mean([structural_similarity(t[i], p[i], data_range=maxval) for i in range(4)])
    assert got["ssim"] == pytest.approx(ref_ssim, abs=1e-5)
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=maxval), rel=1e-5)
    assert got["nmse"] == pytest.approx(mean_squared_error(t, p) * t.size / (t**2).sum(), rel=1e-5)


def test_volume_accumulator_orders_slices_and_groups_by_file():
    target, pred = _pair((3, 12, 12), seed=3)
    acc = VolumeMetrics()
    acc.update(["a", "b"], [2, 0], target[[2, 0]], pred[[2, 0]])
    acc.update(["a", "a"], [0, 1], target[[0, 1]], pred[[0, 1]])
    vols = acc.volumes()
    assert torch.equal(vols["a"][0], target)
    assert vols["b"][0].shape == (1, 12, 12)
    assert acc.compute()["a"]["ssim"] == pytest.approx(volume_metrics(target, pred)["ssim"])


def test_perfect_reconstruction_and_bad_input():
    target, _ = _pair((1, 10, 10))
    assert ssim(target, target).item() == pytest.approx(1.0, abs=1e-6)
    assert math.isinf(volume_metrics(target, target)["psnr"])
    with pytest.raises(ValueError, match="magnitude"):
        ssim(torch.zeros(1, 8, 8, dtype=torch.complex64), torch.zeros(1, 8, 8))


# -- conventions, float64, zero ranges -----------------------------------------------------

def _toy_volume(seed=0):
    """Three slices of one object at intensities 1.0 / 0.5 / 0.1 and a noisy estimate."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 24), indexing="ij")
    base = ((xx**2 + yy**2) < 0.6).double() * (1 + 0.3 * torch.cos(4 * xx))
    target = torch.stack([base * a for a in (1.0, 0.5, 0.1)])
    pred = (target + 0.02 * torch.randn(target.shape, generator=g, dtype=torch.float64)).abs()
    return target, pred


@pytest.mark.parametrize("convention,reference", [("fastmri", fastmri_reference),
                                                  ("atommic", atommic_reference)])
def test_conventions_match_independent_reference(convention, reference):
    target, pred = _toy_volume()
    got = volume_metrics(target, pred, convention)
    ref = reference(target.numpy(), pred.numpy())
    for key in ("ssim", "psnr", "nmse"):
        assert got[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key


def test_toy_volume_per_slice_normalisation_is_not_the_fastmri_value():
    """Regression (issue 10): slices each divided by their own factor changed the numbers."""
    target, pred = _toy_volume()
    scale = target.amax(dim=(-2, -1))
    acc = VolumeMetrics()  # what the pipeline sees: normalised slices plus their scale
    acc.update(["toy.h5"] * 3, [0, 1, 2], target / scale[:, None, None],
               pred / scale[:, None, None], scale)
    got = acc.compute("fastmri")["toy.h5"]
    ref = fastmri_reference(target.numpy(), pred.numpy())
    for key in ("ssim", "psnr", "nmse"):
        assert got[key] == pytest.approx(ref[key], rel=1e-6), key
    old = volume_metrics(target / scale[:, None, None], pred / scale[:, None, None])
    # file units: SSIM 0.956, PSNR 36.4 dB, NMSE 0.0018; per-slice normalised: 0.913/21.2/0.025
    assert old["ssim"] < ref["ssim"] - 0.03 and old["psnr"] < ref["psnr"] - 10


def test_mean_over_volumes_or_slices():
    rows = [{"slices": 1, "ssim": 1.0, "psnr": 30.0, "nmse": 0.0},
            {"slices": 3, "ssim": 0.5, "psnr": 20.0, "nmse": 0.4}]
    assert get_convention("fastmri").mean(rows)["ssim"] == pytest.approx(0.75)
    assert get_convention("atommic").mean(rows)["psnr"] == pytest.approx(22.5)
    assert get_convention(None).name == "fastmri"
    with pytest.raises(ValueError, match="expected one of fastmri, atommic; found 'nyu'"):
        get_convention("nyu")


def test_metrics_run_in_float64_and_ssim_never_exceeds_one():
    g = torch.Generator().manual_seed(6)
    target = 100 + 3 * torch.rand(4, 32, 32, generator=g)  # float32 variances cancel here
    pred = target + 1e-4 * torch.randn(target.shape, generator=g)
    assert ssim(target.double(), pred.double()).dtype == torch.float64
    ref = fastmri_reference(target.numpy(), pred.numpy())
    got = volume_metrics(target, pred)  # float32 gave 1.0000063
    assert got["ssim"] <= 1.0 and got["ssim"] == pytest.approx(ref["ssim"], rel=1e-12)
    assert float(ssim(target, pred).max()) <= 1.0  # the float32 loss path is clamped
    for convention in CONVENTIONS:
        m = volume_metrics(target, target, convention)
        assert m["ssim"] == 1.0 and m["nmse"] == 0.0 and math.isinf(m["psnr"])


@pytest.mark.parametrize("convention", list(CONVENTIONS))
def test_zero_ranges_give_defined_values(convention):
    zero = torch.zeros(2, 12, 12)
    same = volume_metrics(zero, zero, convention)  # all-zero target volume: no crash
    assert same == {"ssim": 1.0, "psnr": math.inf, "nmse": 0.0}
    pred = zero.clone()
    pred[:, 4:8, 4:8] = 0.5
    other = volume_metrics(zero, pred, convention)
    assert all(math.isfinite(v) for v in other.values()) and other["nmse"] == 1.0
    assert other["ssim"] < 0.5
    target = torch.rand(2, 12, 12, generator=torch.Generator().manual_seed(5))
    target[1] = 0  # one empty slice in a volume
    mixed = volume_metrics(target, target.flip(-1) + 0.01, convention)
    assert all(math.isfinite(v) for v in mixed.values())


def test_ssim_loss_has_no_nan_for_an_empty_target_slice():
    from atommic_rec.losses import SSIMLoss

    target = torch.rand(2, 12, 12, generator=torch.Generator().manual_seed(6))
    target[0] = 0
    pred = torch.rand(2, 12, 12, generator=torch.Generator().manual_seed(7)).requires_grad_()
    loss = SSIMLoss()(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    assert ssim(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)).item() == 1.0
    assert torch.isfinite(psnr(torch.zeros(1, 8, 8), torch.ones(1, 8, 8))).all()
    assert nmse(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)).item() == 0.0
