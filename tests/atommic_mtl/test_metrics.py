"""Both tasks' per-volume metrics against independent formulas (skimage/numpy/scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_references import atommic_reference, fastmri_reference
from scipy import ndimage

from atommic_mtl.metrics import JointVolumeMetrics


def _volume(seed, slices=3, size=24):
    rng = np.random.default_rng(seed)
    target = ndimage.gaussian_filter(rng.random((slices, size, size)), 2) * 4
    recon = target + 0.05 * rng.standard_normal(target.shape)
    labels = np.zeros((slices, size, size), np.uint8)
    labels[:, 4:14, 4:16] = 1
    labels[:, 10:20, 12:22] = 2
    pred = np.roll(labels, 1, axis=2)
    pred[1, 0, 0] = 2
    return target.astype(np.float32), np.abs(recon).astype(np.float32), pred, labels


def _surface(mask):
    inner = ndimage.binary_erosion(mask, ndimage.generate_binary_structure(mask.ndim, 1),
                                   border_value=0)
    return mask & ~inner


def _reference_segmentation(pred, target, spacing):
    """Dice and IoU by counting, HD95 and ASD from scipy's distance transform."""
    out = {}
    for c in (1, 2):
        p, t = pred == c, target == c
        inter = np.logical_and(p, t).sum()
        sp, st = _surface(p), _surface(t)
        d = np.concatenate([ndimage.distance_transform_edt(~st, sampling=spacing)[sp],
                            ndimage.distance_transform_edt(~sp, sampling=spacing)[st]])
        out[c] = {"dice": 2 * inter / (p.sum() + t.sum()),
                  "iou": inter / np.logical_or(p, t).sum(),
                  "hd95": np.percentile(d, 95), "asd": d.mean()}
    return out


@pytest.mark.parametrize("convention", ["fastmri", "atommic"])
def test_both_tasks_per_volume_against_references(convention):
    acc = JointVolumeMetrics()
    volumes = {"a.h5": _volume(0), "b.h5": _volume(1)}
    spacing = [2.0, 0.8, 1.3]
    scale = 1.7  # data normalised by 1.7: metrics are in file units
    for name, (target, recon, pred, labels) in volumes.items():
        for s in (2, 0, 1):  # any slice order, several batches
            acc.update([name], [s], torch.from_numpy(target[s:s + 1] / scale),
                       torch.from_numpy(recon[s:s + 1] / scale), [scale],
                       torch.from_numpy(pred[s:s + 1]), torch.from_numpy(labels[s:s + 1]),
                       torch.tensor([spacing], dtype=torch.float64))
    rec = acc.reconstruction_rows(convention)
    reference = {"fastmri": fastmri_reference, "atommic": atommic_reference}[convention]
    for name, (target, recon, _, _) in volumes.items():
        want = reference(target, recon)
        for key in ("ssim", "psnr", "nmse"):
            assert rec[name][key] == pytest.approx(want[key], rel=1e-4, abs=1e-5), key
    rows = acc.segmentation_rows(3, ["bg", "one", "two"])
    assert [(r["case"], r["class"]) for r in rows] == [("a.h5", "one"), ("a.h5", "two"),
                                                       ("b.h5", "one"), ("b.h5", "two")]
    for row in rows:
        _, _, pred, labels = volumes[row["case"]]
        want = _reference_segmentation(pred, labels, spacing)[{"one": 1, "two": 2}[row["class"]]]
        for key in ("dice", "iou", "hd95", "asd"):
            assert row[key] == pytest.approx(want[key], rel=1e-9), key


def test_multilabel_rows_and_absent_classes():
    acc = JointVolumeMetrics()
    labels = np.zeros((2, 2, 8, 8), np.uint8)  # [S, K, H, W]; class 1 absent everywhere
    labels[:, 0, 2:5, 2:5] = 1
    pred = labels.copy()
    pred[0, 0, 2, 2] = 0
    for s in range(2):
        acc.update(["v.h5"], [s], torch.ones(1, 8, 8), torch.ones(1, 8, 8), None,
                   torch.from_numpy(pred[s:s + 1]), torch.from_numpy(labels[s:s + 1]),
                   torch.ones(1, 3))
    rows = acc.segmentation_rows(2, ["first", "second"], multilabel=True)
    assert rows[0]["dice"] == pytest.approx(2 * 17 / (17 + 18))
    assert math.isnan(rows[1]["dice"])
    acc.reset()
    assert len(acc) == 0 and acc.reconstruction_rows() == {}
