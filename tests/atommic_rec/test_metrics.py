import math

import numpy as np
import pytest
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from atommic_rec.metrics import VolumeMetrics, nmse, psnr, ssim, volume_metrics


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
