import pickle
import random

import numpy as np
import pytest
import torch
from rec_synthetic import disc_image, smooth_maps, write_volume

from atommic_core.errors import ConfigError
from atommic_rec.data import build_rec_dataset
from atommic_rec.data.build import default_transform_config
from atommic_rec.physics import fft2, ifft2, sense_reduce
from atommic_rec.transforms import Augment, Mask, augment_transform_config, reflect_frequencies

ALL = {"global_phase": True, "flip": 0.5, "transpose": 0.5, "coil_permutation": True,
       "scale": [0.5, 2.0]}


def _sample(h, w, centered, coils=3, complex_target=False):
    """Noiseless sample: k-space of S x, its maps and the SENSE target x (or |x|)."""
    maps, image = smooth_maps(coils, h, w), disc_image(h, w)
    image = image * (1 + 0.5 * torch.linspace(0, 1, w))  # break the left/right symmetry
    kspace = fft2(maps * image, centered=centered)
    target = image if complex_target else image.abs()
    return {"kspace": kspace, "sensitivity_maps": maps, "target": target, "max_value": 2.0,
            "fname": "vol.h5", "slice_idx": 0}


def _sense(sample, centered):
    return sense_reduce(ifft2(sample["kspace"], centered=centered), sample["sensitivity_maps"])


@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("hw", [(16, 16), (15, 15), (12, 17)])
@pytest.mark.parametrize("kind", ["global_phase", "flip", "transpose", "coil_permutation",
                                  "scale", "all"])
def test_augmented_sample_stays_physically_consistent(centered, hw, kind):
    params = ALL if kind == "all" else {kind: [0.5, 2.0] if kind == "scale" else 1.0}
    augment = Augment(**params, seed=3, fft_centered=centered)
    for complex_target in (False, True):
        sample = _sample(*hw, centered, complex_target=complex_target)
        out = augment(sample)
        combined = _sense(out, centered)
        target = out["target"]
        assert target.shape == combined.shape and out["kspace"].shape == sample["kspace"].shape
        if complex_target:  # the SENSE image of the augmented data is the augmented target
            torch.testing.assert_close(combined, target.to(torch.complex64),
                                       atol=1e-5, rtol=1e-4)
        else:
            torch.testing.assert_close(combined.abs(), target, atol=1e-5, rtol=1e-4)
        gain = float(target.abs().max() / sample["target"].abs().max())
        assert out["max_value"] == pytest.approx(2.0 * gain, rel=1e-4)


def test_each_augmentation_changes_what_it_should():
    base = _sample(16, 16, True, complex_target=True)
    phase = Augment(global_phase=True, seed=0)(base)
    ratio = phase["kspace"] / base["kspace"]
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), atol=1e-4)
    assert abs(abs(complex(ratio.flatten()[0])) - 1) < 1e-5 and abs(ratio.flatten()[0].angle()) > 0
    torch.testing.assert_close(phase["sensitivity_maps"], base["sensitivity_maps"])
    flipped = Augment(flip=1.0, seed=0)(base)
    torch.testing.assert_close(flipped["sensitivity_maps"], base["sensitivity_maps"].flip(-2, -1))
    torch.testing.assert_close(flipped["target"], base["target"].flip(-2, -1))
    transposed = Augment(transpose=1.0, seed=0)(base)
    torch.testing.assert_close(transposed["target"], base["target"].T)
    coils = Augment(coil_permutation=True, seed=1)(base)
    order = [int(torch.argmin((base["sensitivity_maps"] - m).abs().sum((-2, -1))))
             for m in coils["sensitivity_maps"]]
    assert sorted(order) == [0, 1, 2] and order != [0, 1, 2]
    torch.testing.assert_close(coils["kspace"], base["kspace"][order])


def test_transpose_is_skipped_on_non_square_grids():
    base = _sample(12, 16, True)
    out = Augment(transpose=1.0, seed=0)(base)
    torch.testing.assert_close(out["kspace"], base["kspace"])


@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("n", [16, 15])
def test_flip_moves_a_stored_mask_with_the_sampled_locations(centered, n):
    mask = (torch.rand(1, n, n, generator=torch.Generator().manual_seed(n)) > 0.5).float()
    lines = mask[:, :1, :]  # [1, 1, W] line mask
    for m in (mask, lines):
        sample = _sample(n, n, centered)
        sample["kspace"] = sample["kspace"] * m
        sample["mask"] = m
        for params in ({"flip": 1.0}, {"transpose": 1.0}, {"flip": 1.0, "transpose": 1.0}):
            out = Augment(**params, seed=0, fft_centered=centered)(sample)
            moved = out["mask"].expand(1, n, n)[0]
            assert out["kspace"][:, moved == 0].abs().max() < 1e-4  # unsampled stays so
            assert out["kspace"][:, moved > 0].abs().min() > 0
            assert moved.sum() == m.expand(1, n, n).sum()
    assert reflect_frequencies(4, True).tolist() == [0, 3, 2, 1]
    assert reflect_frequencies(5, True).tolist() == [4, 3, 2, 1, 0]
    assert reflect_frequencies(4, False).tolist() == [0, 3, 2, 1]


def test_seeded_reproducible_and_global_rng_untouched():
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    sample = _sample(16, 16, True)
    draws = [Augment(**ALL, seed=7)(sample)["kspace"] for _ in range(2)]
    torch.testing.assert_close(draws[0], draws[1])
    augment = Augment(**ALL, seed=7)
    seq = [augment(sample)["kspace"] for _ in range(4)]
    assert any(not torch.allclose(seq[0], s) for s in seq[1:])  # new draws every call
    again = pickle.loads(pickle.dumps(augment))  # a worker copy restarts from the seed
    torch.testing.assert_close(again(sample)["kspace"], seq[0])
    other = Augment(**ALL, seed=8)(sample)["kspace"]
    assert not torch.allclose(other, seq[0])
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1]) and random.getstate() == states[2]


def test_draws_independent_of_the_training_masks_of_the_same_seed():
    rand = {"type": "random1d", "accelerations": [4], "center_fractions": [0.1]}
    augment, mask = Augment(global_phase=True, seed=5), Mask(rand, use_seed=False, seed=5)
    assert augment._rng.get().random() != mask._rng.get().random()


def test_augment_runs_on_train_only_before_the_mask(tmp_path):
    write_volume(tmp_path / "a.h5", slices=2, h=16, w=16)
    cfg = {"data_path": str(tmp_path), "seed": 0, "augmentations": {"global_phase": True},
           "mask_args": {"type": "random1d", "accelerations": [4], "center_fractions": [0.25]}}
    names = [t["name"] for t in default_transform_config(cfg, "train")]
    assert names.index("augment") == names.index("mask") - 1
    for split in ("validation", "test", "predict"):
        assert "augment" not in [t["name"] for t in default_transform_config(cfg, split)]
    ds = build_rec_dataset(cfg, "train")
    assert any(isinstance(t, Augment) for t in ds.transform.transforms)
    assert ds[0]["masked_kspace"].shape == (4, 16, 16)


def test_bad_augmentation_config_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"unknown.*'flips'.*did you mean 'flip'"):
        augment_transform_config({"flips": 0.5}, 0)
    with pytest.raises(ConfigError, match="expected a dict"):
        augment_transform_config(True, 0)
    with pytest.raises(ConfigError, match="probability"):
        Augment(flip=2.0)
    with pytest.raises(ConfigError, match="scale"):
        Augment(scale=[2.0, 1.0])
    sample = Mask({"type": "random1d", "accelerations": [4], "center_fractions": [0.25]})(
        _sample(16, 16, True))
    with pytest.raises(ValueError, match="before 'mask'"):
        Augment(global_phase=True)(sample)
    bad = {**_sample(16, 16, True), "target": torch.ones(8, 8)}
    with pytest.raises(ValueError, match="crop_size"):
        Augment(flip=1.0)(bad)
