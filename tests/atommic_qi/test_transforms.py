"""Multi-echo transforms: REC's transforms reused, the qi_* ones, seeded masks, the sample."""

import pytest
import torch

from atommic_qi.data import MultiEchoSliceDataset, build_qi_dataset
from atommic_qi.data.transforms import (
    EchoAnatomyMask,
    EchoCrop,
    EchoNormalize,
    EchoSensitivityMaps,
    QIFinalize,
    TargetMaps,
)
from atommic_rec.physics import apply_mask, estimate_sensitivity_maps_lowres
from atommic_rec.transforms import TRANSFORMS, InitialImage, Mask, count_center_lines

MASK_ARGS = {"type": "gaussian2d", "accelerations": [4], "center_fractions": [0.25]}


def _sample(tmp_path, write_qi_volume, **kw):
    maps = write_qi_volume(tmp_path / "v.h5", **kw)
    return MultiEchoSliceDataset(tmp_path)[0], maps[0]


def test_qi_transforms_are_registered_with_recs():
    for name in ("qi_crop", "qi_sensitivity_maps", "qi_target_maps", "qi_anatomy_mask",
                 "qi_normalize", "qi_finalize"):
        assert name in TRANSFORMS


def test_crop_also_crops_brain_mask_and_target_maps(tmp_path, write_qi_volume):
    sample, maps = _sample(tmp_path, write_qi_volume, h=16, w=18)
    out = EchoCrop([12, 10])(sample)
    assert out["kspace"].shape == (4, 3, 12, 10)
    assert out["anatomy_mask"].shape == (12, 10) and out["qmaps_target"].shape == (4, 12, 10)
    torch.testing.assert_close(out["qmaps_target"], maps[:, 2:14, 4:14])


def test_one_mask_for_all_echoes_seeded_like_rec(tmp_path, write_qi_volume):
    sample, _ = _sample(tmp_path, write_qi_volume)
    a = Mask(MASK_ARGS, use_seed=True)(sample)
    b = Mask(MASK_ARGS, use_seed=True)(sample)
    assert torch.equal(a["mask"], b["mask"]) and a["mask"].shape == (1, 1, 16, 18)
    torch.testing.assert_close(a["masked_kspace"], apply_mask(sample["kspace"], a["mask"]))
    train = [Mask(MASK_ARGS, use_seed=False, seed=s)(sample)["mask"] for s in (1, 1, 2)]
    assert torch.equal(train[0], train[1]) and not torch.equal(train[0], train[2])


def test_sensitivity_maps_come_from_one_echo(tmp_path, write_qi_volume):
    sample, _ = _sample(tmp_path, write_qi_volume, maps_key=False)
    sample = Mask(MASK_ARGS)(sample)
    out = EchoSensitivityMaps(echo=1)(sample)
    assert out["sensitivity_maps"].shape == (3, 16, 18)
    box = count_center_lines(sample["mask"][0])  # the fully sampled 2D centre
    torch.testing.assert_close(out["sensitivity_maps"], estimate_sensitivity_maps_lowres(
        sample["masked_kspace"][1], box))
    kept = EchoSensitivityMaps()({**sample, "sensitivity_maps": torch.ones(3, 16, 18)})
    assert torch.equal(kept["sensitivity_maps"], torch.ones(3, 16, 18))


def test_target_maps_and_brain_mask_are_computed_when_missing(tmp_path, write_qi_volume):
    sample, maps = _sample(tmp_path, write_qi_volume, targets=None, anatomy=False)
    assert "qmaps_target" not in sample and "anatomy_mask" not in sample
    out = EchoAnatomyMask(threshold=0.05)(TargetMaps()(sample))
    brain = out["anatomy_mask"] > 0
    assert brain.float().mean() > 0.3 and not brain[0, 0]
    torch.testing.assert_close(out["qmaps_target"][:, brain], maps[:, brain], rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("model, scaled", [("gre", [1]), ("atommic_megre", [1, 3])])
def test_normalize_scales_data_and_only_the_amplitude_maps(tmp_path, write_qi_volume, model,
                                                           scaled):
    sample, _ = _sample(tmp_path, write_qi_volume)
    sample = InitialImage()(Mask(MASK_ARGS)(sample))
    out = EchoNormalize(signal_model=model)(sample)
    factor = float(sample["initial_image"].abs().max())
    assert out["scale"] == pytest.approx(factor)
    torch.testing.assert_close(out["masked_kspace"], sample["masked_kspace"] / factor)
    for k in range(4):
        want = sample["qmaps_target"][k] / (factor if k in scaled else 1.0)
        torch.testing.assert_close(out["qmaps_target"][k], want)


def test_default_chain_gives_the_qi_sample(tmp_path, write_qi_volume):
    write_qi_volume(tmp_path / "v.h5")
    ds = build_qi_dataset({"data_path": str(tmp_path), "mask_args": MASK_ARGS}, "test")
    item = ds[0]
    assert set(item) == {"masked_kspace", "sensitivity_maps", "mask", "initial_image", "target",
                         "qmaps_target", "anatomy_mask", "TEs", "scale", "acceleration",
                         "fname", "slice_idx"}
    assert item["initial_image"].shape == (4, 16, 18) and item["target"].shape == (4, 16, 18)
    with pytest.raises(ValueError, match=r"expected key 'qmaps_target'.*add 'qi_target_maps'"):
        QIFinalize()({k: v for k, v in item.items() if k != "qmaps_target"})
