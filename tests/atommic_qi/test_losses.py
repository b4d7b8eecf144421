"""The per-map quantitative loss: weights, scales, brain mask, phase wrap, intermediates."""

import math

import pytest
import torch

from atommic_qi.losses import DEFAULT_MAP_WEIGHTS, QuantitativeLoss


def _maps(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 4, 8, 8, generator=g) * torch.tensor([40.0, 1.0, 30.0, 2.0]).view(
        1, 4, 1, 1)


def test_default_weights_are_atommics_numbers_normalised():
    loss = QuantitativeLoss()
    assert DEFAULT_MAP_WEIGHTS == (150.0, 150.0, 1000.0, 150.0)
    assert loss.weights == pytest.approx([150 / 1450, 150 / 1450, 1000 / 1450, 150 / 1450])


def test_each_map_is_scaled_masked_and_weighted():
    loss = QuantitativeLoss({"l1": 1.0}, weights=[1, 2, 3, 4], scales=[10, 1, 5, 1])
    target = _maps()
    mask = torch.ones(2, 8, 8)
    for k, scale in enumerate([10, 1, 5, 1]):
        prediction = target.clone()
        prediction[:, k] += 0.5
        want = (k + 1) / 10 * 0.5 / scale
        assert float(loss(prediction, target, mask)) == pytest.approx(want, rel=1e-5)
    prediction = target.clone()
    prediction[..., :4] += 100.0  # only outside the brain mask
    mask[..., :4] = 0
    assert float(loss(prediction, target, mask)) == 0.0


def test_phase_maps_compare_wrapped_differences():
    loss = QuantitativeLoss(weights=[0, 0, 0, 1])
    target = _maps()
    target[:, 3] = math.pi - 0.05
    prediction = target.clone()
    prediction[:, 3] = -math.pi + 0.05  # 0.1 rad away, not 2 pi - 0.1
    got = float(loss(prediction, target, torch.ones(2, 8, 8)))
    assert got == pytest.approx(0.1 / math.pi, rel=1e-4)


def test_ssim_loss_and_intermediate_weighting():
    target = _maps()
    loss = QuantitativeLoss({"l1": 0.5, "ssim": 0.5})
    assert float(loss(target, target, torch.ones(2, 8, 8))) == pytest.approx(0.0, abs=1e-6)
    worse, better = target + 1.0, target + 0.1
    mask = torch.ones(2, 8, 8)
    last = loss.iterative([worse, better], target, mask, weighting="last")
    assert float(last) == pytest.approx(float(loss(better, target, mask)))
    uniform = loss.iterative([worse, better], target, mask, weighting="uniform")
    assert float(uniform) > float(last)


def test_bad_weights_and_scales_are_errors():
    with pytest.raises(ValueError, match="loss weights: expected 4 non-negative numbers"):
        QuantitativeLoss(weights=[1, 1, 1])
    with pytest.raises(ValueError, match="map_scales: expected 4 positive numbers"):
        QuantitativeLoss(scales=[1, 0, 1, 1])
