"""qmri metrics per map against independent NumPy/skimage references, and the accumulator."""

import math

import numpy as np
import pytest
import torch
from qi_metric_references import qmri_reference

from atommic_qi.metrics import QMapMetrics, map_volume_metrics, mean_row, metric_keys


@pytest.mark.parametrize("phase", [False, True])
def test_map_metrics_match_an_independent_reference(phase):
    rng = np.random.default_rng(0)
    target = rng.uniform(-3, 3, (3, 12, 13)) if phase else rng.uniform(5, 40, (3, 12, 13))
    prediction = target + rng.normal(0, 0.8, target.shape)
    if phase:
        prediction = np.angle(np.exp(1j * prediction))  # wraps: raw differences near 2 pi
    mask = np.zeros(target.shape)
    mask[:, 2:10, 3:11] = 1
    got = map_volume_metrics(torch.from_numpy(target), torch.from_numpy(prediction),
                             torch.from_numpy(mask), phase=phase)
    want = qmri_reference(target, prediction, mask, phase)
    for key in ("ssim", "psnr", "nmse", "mae"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key


def test_outside_the_mask_does_not_count_and_empty_masks_are_nan():
    target = torch.full((1, 8, 8), 10.0)
    prediction = target.clone()
    prediction[:, :2] = 99.0  # outside the mask
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:] = 1
    got = map_volume_metrics(target, prediction, mask)
    assert got["mae"] == 0 and got["nmse"] == 0 and got["psnr"] == math.inf
    assert all(math.isnan(v) for v in map_volume_metrics(target, prediction, 0 * mask).values())
    with pytest.raises(ValueError, match=r"\[slices, H, W\] of one shape"):
        map_volume_metrics(target, prediction[:, :4], mask)


def test_accumulator_scores_whole_volumes_in_file_units():
    acc = QMapMetrics(amplitude_maps=(1,), phase_maps=(3,))
    target = torch.rand(4, 4, 9, 9, generator=torch.Generator().manual_seed(0)) + 1
    prediction = target * 1.1
    mask = torch.ones(4, 9, 9)
    # two volumes, slices arriving out of order, S0 normalised by a per-slice scale
    acc.update(["b.h5", "a.h5"], [1, 0], target[:2], prediction[:2], mask[:2], [2.0, 3.0])
    acc.update(["a.h5", "b.h5"], [1, 0], target[2:], prediction[2:], mask[2:], [3.0, 2.0])
    volumes = acc.volumes()
    assert sorted(volumes) == ["a.h5", "b.h5"]
    t_a = volumes["a.h5"][0]
    torch.testing.assert_close(t_a[0, 1], target[1, 1] * 3.0)  # S0 back in file units
    torch.testing.assert_close(t_a[0, 0], target[1, 0])  # R2* untouched
    rows = acc.compute()
    assert rows["a.h5"]["slices"] == 2
    assert rows["a.h5"]["R2star_mae"] == pytest.approx(
        float((0.1 * volumes["a.h5"][0][:, 0]).mean()), rel=1e-5)
    assert rows["a.h5"]["ssim"] == pytest.approx(np.mean([rows["a.h5"][f"{m}_ssim"] for m in
                                                          ("R2star", "S0", "B0", "phi")]))
    mean = mean_row([rows["a.h5"], rows["b.h5"]])
    assert set(mean) == set(metric_keys())
    assert mean["B0_mae"] == pytest.approx((rows["a.h5"]["B0_mae"] + rows["b.h5"]["B0_mae"]) / 2)
    acc.reset()
    assert len(acc) == 0
