"""The label path: crops and flips move labels with the image; joint_finalize's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rec_synthetic import multicoil_kspace

from atommic_mtl.data.transforms import JointFinalize, JointFlip, SegmentationCrop, SegmentationPad
from atommic_rec.physics import apply_mask, fft2, ifft2
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


def test_joint_flip_is_an_exact_acquisition_of_the_flipped_object():
    sample = _sample()
    flipped = JointFlip(prob=1.0, axes=[-1, -2], seed=0)(sample)
    torch.testing.assert_close(ifft2(flipped["kspace"]), ifft2(sample["kspace"]).flip([-2, -1]),
                               atol=1e-5, rtol=0)
    for key in ("sensitivity_maps", "target", "segmentation"):
        assert torch.equal(flipped[key], sample[key].flip([-2, -1])), key
    assert _where(flipped["segmentation"]) == _where(flipped["target"])


@pytest.mark.parametrize("shape", [(24, 20), (23, 19)])
def test_joint_flip_reflects_a_stored_mask(shape):
    """Masking then flipping equals flipping then masking with the reflected mask (|image|)."""
    sample = _sample(*shape)
    rng = np.random.default_rng(0)
    mask = torch.from_numpy((rng.random((1, *shape)) < 0.4).astype(np.float32))
    flipped = JointFlip(prob=1.0, axes=[-1, -2], seed=0)({**sample, "mask": mask})
    expected = ifft2(apply_mask(sample["kspace"], mask)).flip([-2, -1]).abs()
    got = ifft2(apply_mask(flipped["kspace"], flipped["mask"])).abs()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_joint_flip_draws_are_seeded_and_leave_global_rngs_alone():
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()

    def draws(seed):
        flip = JointFlip(prob=0.5, axes=[-1], seed=seed)
        sample = _sample()
        return [bool(torch.equal(flip(sample)["segmentation"], sample["segmentation"]))
                for _ in range(24)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert 0 < sum(draws(1)) < 24
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()


def test_joint_flip_must_run_before_the_mask():
    chain = build_transforms([{"name": "mask", "mask_args": {
        "type": "random1d", "accelerations": [4], "center_fractions": [0.2]}},
        {"name": "joint_flip", "prob": 1.0}])
    with pytest.raises(ValueError, match="joint_flip: expected to run before 'mask'"):
        chain(_sample())


@pytest.mark.parametrize(("kwargs", "message"), [({"prob": 1.5}, "expected prob in"),
                                                  ({"axes": [0]}, "expected axes among")])
def test_joint_flip_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JointFlip(**kwargs)


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
