"""Segmentation metrics vs hand-computed cases and an independent distance-transform version."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from atommic_seg.metrics import (
    METRIC_NAMES,
    binary_metrics,
    class_masks,
    segmentation_metrics,
    summarize,
    surface_distances,
)


def _reference_surface(mask: np.ndarray) -> np.ndarray:
    """Surface by explicit neighbour shifts (no scipy erosion): a voxel with an outside face."""
    padded = np.pad(mask, 1)
    inside = np.ones_like(mask, dtype=bool)
    for axis in range(mask.ndim):
        for shift in (-1, 1):
            rolled = np.roll(padded, shift, axis=axis)
            inside &= rolled[tuple(slice(1, -1) for _ in range(mask.ndim))]
    return mask & ~inside


def _reference_hd95_asd(pred, target, spacing):
    """HD95/ASD from scipy's Euclidean distance transform of the other surface's complement."""
    sp, st = _reference_surface(pred), _reference_surface(target)
    dt_t = ndimage.distance_transform_edt(~st, sampling=spacing)
    dt_p = ndimage.distance_transform_edt(~sp, sampling=spacing)
    pooled = np.concatenate([dt_t[sp], dt_p[st]])
    return np.percentile(pooled, 95), pooled.mean()


def test_overlap_metrics_hand_computed():
    pred = np.zeros((4, 4), bool)
    target = np.zeros((4, 4), bool)
    pred[0, :3] = True          # 3 voxels
    target[0, 1:] = True        # 3 voxels, overlap 2
    target[1, 0] = True         # 4 target voxels
    m = binary_metrics(pred, target)
    assert m["dice"] == pytest.approx(2 * 2 / (3 + 4))
    assert m["iou"] == pytest.approx(2 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    p, r = 2 / 3, 2 / 4
    assert m["f1"] == pytest.approx(2 * p * r / (p + r))
    assert m["f1"] == pytest.approx(m["dice"])  # true F1 equals Dice for one binary case


def test_distances_hand_computed_with_spacing():
    # two single voxels 3 apart along axis 1 (spacing 2 mm) -> 6 mm both ways
    pred = np.zeros((5, 5), bool)
    target = np.zeros((5, 5), bool)
    pred[2, 1] = True
    target[2, 4] = True
    m = binary_metrics(pred, target, spacing=(1.0, 2.0))
    assert m["hd95"] == pytest.approx(6.0)
    assert m["asd"] == pytest.approx(6.0)
    d_pt, d_tp = surface_distances(pred, target, (1.0, 2.0))
    assert d_pt.tolist() == [6.0] and d_tp.tolist() == [6.0]


def test_identical_masks_are_perfect():
    mask = np.zeros((6, 7, 8), bool)
    mask[1:5, 2:6, 3:7] = True
    m = binary_metrics(mask, mask, spacing=(3.0, 1.0, 0.5))
    assert m["dice"] == m["iou"] == m["precision"] == m["recall"] == m["f1"] == 1.0
    assert m["hd95"] == 0.0 and m["asd"] == 0.0


def test_empty_conventions():
    empty = np.zeros((5, 6), bool)
    full = empty.copy()
    full[1:3, 1:3] = True
    both = binary_metrics(empty, empty)
    assert all(math.isnan(both[k]) for k in METRIC_NAMES)
    missed = binary_metrics(empty, full, spacing=(2.0, 1.0))
    assert missed["dice"] == missed["iou"] == missed["recall"] == missed["precision"] == 0.0
    diag = math.sqrt((4 * 2.0) ** 2 + (5 * 1.0) ** 2)
    assert missed["hd95"] == pytest.approx(diag) and missed["asd"] == pytest.approx(diag)
    false_alarm = binary_metrics(full, empty, missing_distance=99.0)
    assert false_alarm["dice"] == 0.0 and false_alarm["hd95"] == 99.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_match_distance_transform_reference(seed):
    rng = np.random.default_rng(seed)
    shape = (12, 15, 11)
    spacing = (2.5, 1.0, 0.7)
    pred = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    target = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    assert pred.any() and target.any()
    hd95_ref, asd_ref = _reference_hd95_asd(pred, target, spacing)
    m = binary_metrics(pred, target, spacing)
    assert m["hd95"] == pytest.approx(hd95_ref, rel=1e-9, abs=1e-9)
    assert m["asd"] == pytest.approx(asd_ref, rel=1e-9, abs=1e-9)


def test_overlap_matches_counts_on_random_labels():
    rng = np.random.default_rng(3)
    pred = rng.integers(0, 3, (9, 10))
    target = rng.integers(0, 3, (9, 10))
    res = segmentation_metrics(pred, target, num_classes=3)
    assert sorted(res) == [1, 2]  # background skipped by default
    for c in (1, 2):
        p, t = pred == c, target == c
        tp = (p & t).sum()
        assert res[c]["dice"] == pytest.approx(2 * tp / (p.sum() + t.sum()))
        assert res[c]["iou"] == pytest.approx(tp / (p | t).sum())
        prec, rec = tp / p.sum(), tp / t.sum()
        assert res[c]["precision"] == pytest.approx(prec)
        assert res[c]["recall"] == pytest.approx(rec)
        assert res[c]["f1"] == pytest.approx(2 * prec * rec / (prec + rec))


def test_class_masks_multilabel_and_background():
    labels = np.array([[0, 1], [2, 1]])
    masks = class_masks(labels, 3, include_background=True)
    assert sorted(masks) == [0, 1, 2] and masks[1].sum() == 2
    ml = np.stack([labels == 1, labels == 2]).astype(np.uint8)
    res = segmentation_metrics(ml, ml, num_classes=2, multilabel=True)
    assert res[0]["dice"] == 1.0 and res[1]["dice"] == 1.0
    with pytest.raises(ValueError, match="channels"):
        class_masks(ml, 3, multilabel=True)


def test_summarize_skips_nan():
    rows = [{"case": "a", "class": "gm", **dict.fromkeys(METRIC_NAMES, 0.5)},
            {"case": "b", "class": "gm", **dict.fromkeys(METRIC_NAMES, math.nan)},
            {"case": "a", "class": "wm", **dict.fromkeys(METRIC_NAMES, 1.0)}]
    s = summarize(rows)
    assert s["gm"]["dice"] == 0.5
    assert s["mean"]["dice"] == pytest.approx(0.75)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shapes differ"):
        binary_metrics(np.zeros((2, 2)), np.zeros((3, 2)))


def test_asd_pools_both_directions_hand_computed():
    pred = np.zeros((1, 6), bool)
    target = np.zeros((1, 6), bool)
    pred[0, 0] = True
    target[0, 2:5] = True  # surface voxels at distance 2, 3, 4 from the prediction
    m = binary_metrics(pred, target)
    # pooled distances [2 (pred->target), 2, 3, 4 (target->pred)]: ASSD of Heimann et al.,
    # not the mean of the two directed means ((2 + 3) / 2 = 2.5)
    assert m["asd"] == pytest.approx(11 / 4)
    assert m["hd95"] == pytest.approx(3.85)  # numpy's linear 95th percentile of the pool
