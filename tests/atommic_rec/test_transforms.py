import math

import pytest
import torch
from rec_synthetic import multicoil_kspace

from atommic_core.errors import ConfigError, UnknownNameError
from atommic_rec.physics import fft2, ifft2, rss_complex, sense_reduce
from atommic_rec.transforms import (
    Compose,
    Crop,
    EstimateSensitivityMaps,
    Finalize,
    InitialImage,
    Mask,
    Normalize,
    Target,
    ZeroPad,
    build_transforms,
    center_crop_or_pad,
    count_center_lines,
    normalization_factor,
)

MASK = {"type": "equispaced1d", "accelerations": [4], "center_fractions": [0.25]}


def _sample(coils=4, h=24, w=20, maps=True):
    kspace, smaps, _ = multicoil_kspace(coils, h, w)
    sample = {"kspace": kspace, "fname": "vol.h5", "slice_idx": 0, "max_value": math.nan}
    if maps:
        sample["sensitivity_maps"] = smaps
    return sample


def test_center_crop_or_pad_keeps_centre_pixel():
    x = torch.arange(7 * 6, dtype=torch.float32).reshape(7, 6)
    c = center_crop_or_pad(x, (3, 4))
    assert c.shape == (3, 4) and c[1, 2] == x[3, 3]
    p = center_crop_or_pad(x, (10, 9))
    assert p.shape == (10, 9) and p[5, 4] == x[3, 3] and p.sum() == x.sum()
    z = center_crop_or_pad(torch.ones(2, 3, 3, dtype=torch.complex64), (5, 5))
    assert z.dtype == torch.complex64 and z.abs().sum() == 18


def test_crop_is_an_image_domain_crop_of_kspace():
    s = _sample(h=24, w=20)
    s["target"] = torch.rand(24, 20)
    out = Crop([16, 12])(s)
    ref = center_crop_or_pad(ifft2(s["kspace"]), (16, 12))
    torch.testing.assert_close(ifft2(out["kspace"]), ref, atol=1e-5, rtol=1e-4)
    assert out["sensitivity_maps"].shape == (4, 16, 12) and out["target"].shape == (16, 12)
    with pytest.raises(ValueError, match="smaller"):
        Crop([30, 12])(s)
    with pytest.raises(ValueError, match="before 'mask'"):
        Crop([16, 12])(Mask(MASK)(s))


def test_pad_zero_fills_image():
    s = _sample(h=12, w=10)
    out = ZeroPad([16, 16])(s)
    img = ifft2(out["kspace"])
    assert img.shape == (4, 16, 16)
    assert img[:, :2].abs().max() < 1e-5  # padded rows are empty
    with pytest.raises(ValueError, match="larger"):
        ZeroPad([8, 16])(s)


def test_mask_transform_deterministic_per_file_and_applies_mask():
    s = _sample()
    rand = {"type": "random1d", "accelerations": [4], "center_fractions": [0.1]}
    out = Mask(rand, use_seed=True)(s)
    again = Mask(rand, use_seed=True)(s)
    assert torch.equal(out["mask"], again["mask"])
    assert out["mask"].shape == (1, 1, 20) and out["acceleration"] == pytest.approx(4, rel=0.3)
    torch.testing.assert_close(out["masked_kspace"], s["kspace"] * out["mask"])
    others = [Mask(rand, use_seed=True)({**s, "fname": f"f{i}.h5"})["mask"] for i in range(5)]
    assert any(not torch.equal(out["mask"], m) for m in others)
    unseeded = [Mask(rand, use_seed=False)(s)["mask"] for _ in range(5)]
    assert any(not torch.equal(unseeded[0], m) for m in unseeded[1:])


def test_mask_transform_non_centered_shifts_mask():
    s = _sample()
    centered = Mask(MASK, fft_centered=True)(s)["mask"]
    shifted = Mask(MASK, fft_centered=False)(s)["mask"]
    torch.testing.assert_close(shifted, torch.fft.ifftshift(centered, dim=(-2, -1)))
    assert shifted[..., 0] == 1  # DC at index 0 is sampled


def test_mask_transform_file_mask_and_fully_sampled():
    s = _sample()
    file_mask = torch.zeros(1, 1, 20)
    file_mask[..., ::2] = 1
    out = Mask(None)({**s, "mask": file_mask})
    assert torch.equal(out["mask"], file_mask) and out["acceleration"] == 2.0
    full = Mask(None)(s)
    assert full["acceleration"] == 1.0 and torch.equal(full["masked_kspace"], s["kspace"])


def test_count_center_lines():
    mask = torch.zeros(1, 1, 20)
    mask[..., 7:13] = 1
    mask[..., 2] = 1
    assert count_center_lines(mask) == (1, 6)
    box = torch.zeros(1, 10, 12)
    box[:, 3:8, 4:9] = 1
    assert count_center_lines(box) == (5, 5)
    assert count_center_lines(torch.fft.ifftshift(box, dim=(-2, -1)), fft_centered=False) == (5, 5)


@pytest.mark.parametrize("method", ["lowres", "espirit"])
def test_estimate_sensitivity_maps_from_mask_acs(method):
    s = Mask(MASK)(_sample(maps=False, h=24, w=24))
    kwargs = {"kernel_size": 4, "crop": 0.5} if method == "espirit" else {}
    out = EstimateSensitivityMaps(method, **kwargs)(s)
    maps = out["sensitivity_maps"]
    assert maps.shape == (4, 24, 24) and maps.dtype == torch.complex64
    _, true_maps, image = multicoil_kspace(4, 24, 24)
    inside = image.abs() > 0.5 * image.abs().max()
    agreement = (maps * true_maps.conj()).sum(0).abs()[inside]
    assert agreement.mean() > 0.95


def test_estimate_keeps_file_maps_unless_overwrite_and_single_coil_ones():
    s = Mask(MASK)(_sample())
    assert EstimateSensitivityMaps()(s)["sensitivity_maps"] is s["sensitivity_maps"]
    new = EstimateSensitivityMaps(overwrite=True)(s)["sensitivity_maps"]
    assert not torch.equal(new, s["sensitivity_maps"])
    single = {"kspace": s["kspace"][:1], "masked_kspace": s["masked_kspace"][:1]}
    torch.testing.assert_close(EstimateSensitivityMaps()(single)["sensitivity_maps"],
                               torch.ones(1, 24, 20, dtype=torch.complex64))


def test_target_and_initial_image_sense_and_rss():
    s = Mask(MASK)(_sample())
    sense_t = Target("sense")(s)
    coil = ifft2(s["kspace"])
    torch.testing.assert_close(sense_t["target"], sense_reduce(coil, s["sensitivity_maps"]).abs())
    assert sense_t["max_value"] == pytest.approx(float(sense_t["target"].max()))
    rss_t = Target("rss")(s)
    torch.testing.assert_close(rss_t["target"], rss_complex(coil, dim=0))
    zf = ifft2(s["masked_kspace"])
    init = InitialImage("sense")(s)["initial_image"]
    torch.testing.assert_close(init, sense_reduce(zf, s["sensitivity_maps"]))
    init_rss = InitialImage("rss")(s)["initial_image"]
    assert init_rss.dtype == torch.complex64
    torch.testing.assert_close(init_rss.real, rss_complex(zf, dim=0))
    with pytest.raises(ValueError, match="crop"):
        Target()({**s, "target": torch.rand(10, 10)})


@pytest.mark.parametrize("method", ["max", "minmax", "mean_std", "none"])
def test_normalize_keeps_factor_to_unnormalize(method):
    s = InitialImage()(Target()(Mask(MASK)(_sample())))
    out = Normalize(method)(s)
    factor = normalization_factor(s["initial_image"], method)
    assert out["scale"] == pytest.approx(factor)
    for key in ("masked_kspace", "initial_image", "target", "kspace"):
        torch.testing.assert_close(out[key] * out["scale"], s[key], rtol=1e-5, atol=1e-6)
    # max_value stays in the units of target (regression: it was left in file units)
    assert out["max_value"] * out["scale"] == pytest.approx(s["max_value"])
    kept = Normalize(method, keys=["masked_kspace", "initial_image"])(s)
    assert kept["max_value"] == s["max_value"]
    if method == "max":
        assert out["initial_image"].abs().max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="method"):
        Normalize("zscore")


def test_build_transforms_from_yaml_list_and_finalize_contract():
    from omegaconf import OmegaConf

    cfg = OmegaConf.create([
        {"name": "crop", "size": [16, 16]},
        {"name": "mask", "mask_args": MASK},
        {"name": "sensitivity_maps"},
        {"name": "target"},
        {"name": "initial_image"},
        {"name": "normalize", "method": "max"},
        {"name": "finalize"},
    ])
    chain = build_transforms(cfg, defaults={"fft_centered": True, "fft_normalization": "ortho"})
    assert isinstance(chain, Compose) and len(chain) == 7
    out = chain(_sample(maps=False))
    want = {"masked_kspace": (torch.complex64, (4, 16, 16)),
            "sensitivity_maps": (torch.complex64, (4, 16, 16)),
            "initial_image": (torch.complex64, (16, 16)), "target": (torch.float32, (16, 16))}
    for key, (dtype, shape) in want.items():
        assert out[key].dtype == dtype and tuple(out[key].shape) == shape, key
    assert out["mask"].dtype == torch.float32
    torch.broadcast_shapes(out["mask"].shape, out["masked_kspace"].shape)
    assert {type(out[k]) for k in ("max_value", "scale", "acceleration")} == {float}
    assert out["fname"] == "vol.h5" and out["slice_idx"] == 0 and "kspace" not in out


def test_finalize_names_missing_transform():
    with pytest.raises(ValueError, match="initial_image"):
        Finalize()(Target()(Mask(MASK)(_sample())))


def test_build_transforms_errors():
    with pytest.raises(UnknownNameError, match="normalize"):
        build_transforms([{"name": "normalise"}])
    with pytest.raises(ConfigError, match="expected keys"):
        build_transforms([{"name": "crop", "sise": [4, 4]}])


def test_fft_defaults_reach_transforms():
    chain = build_transforms([{"name": "crop", "size": [8, 8]}],
                             defaults={"fft_centered": False, "fft_normalization": "backward",
                                       "unused": 1})
    assert chain[0].fft.fft_centered is False
    s = _sample(h=12, w=12)
    s["kspace"] = fft2(ifft2(s["kspace"]), centered=False, normalization="backward")
    out = chain(s)
    ref = center_crop_or_pad(ifft2(s["kspace"], centered=False, normalization="backward"), (8, 8))
    torch.testing.assert_close(ifft2(out["kspace"], centered=False, normalization="backward"),
                               ref, atol=1e-5, rtol=1e-4)


def test_training_masks_reproducible_from_seed_and_rng_untouched():
    s = _sample()
    rand = {"type": "random1d", "accelerations": [4], "center_fractions": [0.1]}
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = [Mask(rand, use_seed=False, seed=5) for _ in range(2)]
    draws = [[m(s)["mask"] for _ in range(4)] for m in first]
    assert all(torch.equal(a, b) for a, b in zip(*draws, strict=True))
    assert any(not torch.equal(draws[0][0], d) for d in draws[0][1:])
    assert torch.equal(torch.get_rng_state(), before)
