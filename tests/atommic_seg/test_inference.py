"""Evaluation-time inference: flip test-time augmentation and its config."""

from __future__ import annotations

import itertools

import pytest
import torch

from atommic_core.errors import ConfigError
from atommic_seg.models import SegmentationUNet
from atommic_seg.models.inference import flip_axes, flip_tta


def _asymmetric_net(channels_in=1, classes=3, seed=0):
    """A convolution with a random (not flip-symmetric) kernel: flips change its output."""
    torch.manual_seed(seed)
    return torch.nn.Conv2d(channels_in, classes, 3, padding=1)


@pytest.mark.parametrize("multilabel", [False, True])
def test_flip_tta_averages_flipped_back_probabilities(multilabel):
    net = _asymmetric_net()
    image = torch.randn(2, 1, 6, 7, generator=torch.Generator().manual_seed(1))
    probs = []
    for flips in itertools.chain.from_iterable(
            itertools.combinations([-2, -1], r) for r in range(3)):
        logits = net(image.flip(flips)).flip(flips) if flips else net(image)
        probs.append(logits.sigmoid() if multilabel else logits.softmax(1))
    expected = torch.stack(probs).mean(0)
    with torch.no_grad():
        out = flip_tta(net, image, [-2, -1], multilabel)
        got = out.sigmoid() if multilabel else out.softmax(1)
        assert torch.allclose(got, expected.detach(), atol=1e-6)
        assert not torch.allclose(got, probs[0].detach(), atol=1e-3)  # flips mattered
        assert torch.isfinite(out).all()


def test_flip_tta_is_neutral_for_a_flip_equivariant_net():
    net = torch.nn.Conv2d(1, 3, 1)  # pointwise
    image = torch.randn(1, 1, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(flip_tta(net, image, [-1]), net(image).log_softmax(1))


def test_flip_tta_stays_finite_for_saturated_probabilities():
    def fn(x):
        return torch.stack([x[:, 0] * 1e4, -x[:, 0] * 1e4], 1)

    out = flip_tta(fn, torch.ones(1, 1, 2, 2), [-1])
    assert torch.isfinite(out).all() and (out.argmax(1) == 0).all()
    ml = flip_tta(fn, torch.ones(1, 1, 2, 2), [-1], multilabel=True)
    assert torch.isfinite(ml).all() and ((ml > 0) == (fn(torch.ones(1, 1, 2, 2)) > 0)).all()


def test_flip_axes_config():
    assert flip_axes(True, 2) == [-2, -1] and flip_axes(False, 2) == [] == flip_axes(None, 3)
    assert flip_axes([-1, -1], 2) == [-1] and flip_axes([-3, -1], 3) == [-3, -1]
    with pytest.raises(ConfigError, match="flip_tta"):
        flip_axes([-3], 2)
    with pytest.raises(ConfigError, match="flip_tta"):
        SegmentationUNet({"num_classes": 3, "inference": {"flip_tta": [1]}})


def test_model_infer_composes_flips_with_sliding_windows():
    cfg = {"num_classes": 3, "channels": 4, "num_pool_layers": 1,
           "inference": {"flip_tta": True, "patch_size": [4, 4], "overlap": 0.5}}
    model = SegmentationUNet(cfg).eval()
    model.net = torch.nn.Conv2d(1, 3, 1)  # pointwise: windows and flips change nothing
    model.size_divisor = (1, 1)
    image = torch.randn(1, 1, 6, 6)
    calls = []
    forward = model.forward

    def counting(x):
        calls.append(tuple(x.shape[2:]))
        return forward(x)

    model.forward = counting
    with torch.no_grad():
        out = model.infer(image)
        expected = model.net(image).log_softmax(1)
    assert len(calls) == 4 * 4 and set(calls) == {(4, 4)}  # 4 flips x 2x2 windows
    torch.testing.assert_close(out, expected)


def test_flips_for_test_and_predict_not_for_validation(tiny_demo):
    split = {"data_path": str(tiny_demo / "val"), "batch_size": 8}
    model = SegmentationUNet({"num_classes": 4, "channels": 4, "num_pool_layers": 1,
                              "inference": {"flip_tta": True}, "validation_ds": split,
                              "test_ds": split, "predict_ds": split}).eval()
    calls = []
    forward = model.forward
    model.forward = lambda x: calls.append(1) or forward(x)
    with torch.no_grad():
        for step, loader in ((model.validation_step, model.val_dataloader()),
                             (model.test_step, model.test_dataloader()),
                             (model.predict_step, model.predict_dataloader())):
            calls.clear()
            step(next(iter(loader)), 0)
            assert len(calls) == (1 if step == model.validation_step else 4)
