"""The label path: crops and flips move labels with the image; joint_finalize's contract."""

from __future__ import annotations

import pytest
import torch
from rec_synthetic import multicoil_kspace

from atommic_mtl.data.transforms import (
    JointAugment,
    JointFinalize,
    SegmentationCrop,
    SegmentationPad,
)
from atommic_rec.physics import fft2, ifft2
from atommic_rec.transforms import Crop, ZeroPad, build_transforms


def _sample(h=24, w=20):
    kspace, maps, image = multicoil_kspace(coils=2, h=h, w=w)
    labels = torch.zeros(h, w, dtype=torch.int64)
    labels[10, 8] = 2  # one marked pixel, also the brightest pixel of the target
    target = image.abs().clone()
    target[10, 8] = 10.0
    return {"kspace": kspace, "sensitivity_maps": maps, "target": target,
            "segmentation": labels, "fname": "a.h5", "slice_idx": 0}


def _where(x):
    return divmod(int(x.reshape(-1).argmax()), x.shape[-1])


@pytest.mark.parametrize(("resize", "label_resize", "size"),
                         [(Crop, SegmentationCrop, (15, 13)), (ZeroPad, SegmentationPad, (31, 26))])
def test_label_resize_keeps_the_pixel_correspondence(resize, label_resize, size):
    sample = label_resize(size)(resize(size)(_sample()))
    assert sample["segmentation"].shape == size == sample["target"].shape
    assert _where(sample["segmentation"]) == _where(sample["target"])


def test_label_steps_pass_samples_without_labels():
    sample = {k: v for k, v in _sample().items() if k != "segmentation"}
    assert "segmentation" not in SegmentationCrop((8, 8))(sample)


def test_joint_augment_moves_labels_with_the_image():
    """Flips and a transpose: k-space is an exact acquisition of the moved object and the
    labels, maps and target move alike (the marked pixel stays under the label)."""
    sample = {**_sample(20, 20), "spacing": (2.0, 0.5, 0.8)}
    moved = JointAugment(flip=1.0, transpose=1.0, global_phase=False, seed=0)(sample)

    def op(x):
        return x.flip([-2, -1]).transpose(-2, -1)

    torch.testing.assert_close(ifft2(moved["kspace"]), op(ifft2(sample["kspace"])),
                               atol=1e-5, rtol=0)
    for key in ("sensitivity_maps", "target", "segmentation"):
        assert torch.equal(moved[key], op(sample[key])), key
    assert _where(moved["segmentation"]) == _where(moved["target"])
    assert moved["spacing"] == (2.0, 0.8, 0.5)  # rows and columns swap their spacing


def test_joint_augment_phase_and_coil_order_leave_labels_alone():
    sample = _sample()
    moved = JointAugment(global_phase=True, coil_permutation=True, seed=1)(sample)
    assert torch.equal(moved["segmentation"], sample["segmentation"])
    assert not torch.equal(moved["kspace"], sample["kspace"])


def test_joint_augment_refuses_labels_off_the_kspace_grid():
    sample = {**_sample(20, 20), "segmentation": torch.zeros(10, 10, dtype=torch.int64)}
    with pytest.raises(ValueError, match=r"joint_augment: expected labels on the k-space grid "
                                         r"\[20, 20\].*found \[10, 10\]"):
        JointAugment(flip=1.0, seed=0)(sample)


def test_joint_augment_is_registered_and_must_run_before_the_mask():
    chain = build_transforms([{"name": "mask", "mask_args": {
        "type": "random1d", "accelerations": [4], "center_fractions": [0.2]}},
        {"name": "joint_augment", "flip": 1.0}])
    with pytest.raises(ValueError, match="expected to run before 'mask'"):
        chain(_sample())


def _rec_sample():
    sample = _sample()
    return {**sample, "masked_kspace": sample["kspace"], "mask": torch.ones(1, 1, 20),
            "initial_image": ifft2(sample["kspace"]).sum(0), "max_value": 1.0,
            "acceleration": 1.0, "spacing": (2.0, 1.0, 1.0)}


def test_joint_finalize_adds_labels_and_spacing():
    out = JointFinalize()(_rec_sample())
    assert out["segmentation"].dtype == torch.int64 and out["segmentation"].shape == (24, 20)
    assert out["spacing"].tolist() == [2.0, 1.0, 1.0]
    assert out["masked_kspace"].dtype == torch.complex64 and "kspace" not in out


def test_joint_finalize_checks_the_grid_and_presence():
    sample = _rec_sample()
    with pytest.raises(ValueError, match=r"segmentation: expected the image grid \[24, 20\]; "
                                         r"found \[12, 20\]; set crop_size: \[12, 20\]"):
        JointFinalize()({**sample, "segmentation": sample["segmentation"][:12]})
    no_labels = {k: v for k, v in sample.items() if k != "segmentation"}
    with pytest.raises(ValueError, match="expected key 'segmentation'"):
        JointFinalize()(no_labels)
    assert "segmentation" not in JointFinalize(require_segmentation=False)(no_labels)


def test_fft_round_trip_of_the_flip_helper_inputs():
    sample = _sample()  # guards the premise of the flip tests: the data are consistent
    torch.testing.assert_close(fft2(ifft2(sample["kspace"])), sample["kspace"], atol=1e-5,
                               rtol=0)
