import math
import pickle
import warnings

import h5py
import numpy as np
import pytest
import torch
from rec_synthetic import write_volume
from torch.utils.data import DataLoader

from atommic_core.errors import ConfigError
from atommic_rec.data import DataFileError, SliceDataset, build_rec_dataset

MASK = {"type": "random1d", "accelerations": [4], "center_fractions": [0.2]}


@pytest.fixture
def data_dir(tmp_path):
    write_volume(tmp_path / "a.h5", slices=3, attrs={"max": 9.0, "patient_id": "p1"})
    write_volume(tmp_path / "b.h5", slices=2, maps=False, target="reconstruction_rss",
                 attrs={"max": 5.0})
    return tmp_path


def test_raw_items_and_layouts(data_dir):
    ds = SliceDataset(data_dir)
    assert len(ds) == 5 and [v.path.name for v in ds.volumes] == ["a.h5", "b.h5"]
    item = ds[1]
    assert item["kspace"].dtype == torch.complex64 and item["kspace"].shape == (4, 24, 20)
    assert item["sensitivity_maps"].shape == (4, 24, 20)
    assert item["target"].dtype == torch.float32 and item["target"].shape == (24, 20)
    assert item["fname"] == "a.h5" and item["slice_idx"] == 1
    with h5py.File(data_dir / "a.h5") as f:
        np.testing.assert_array_equal(item["kspace"].numpy(), f["kspace"][1])
        # max_value is the target volume max (reconstruction_sense has no fastMRI attr)
        assert item["max_value"] == pytest.approx(float(f["reconstruction_sense"][()].max()))
    last = ds[4]
    assert "sensitivity_maps" not in last and last["max_value"] == 5.0  # fastMRI attrs max
    assert ds.volumes[0].attrs["patient_id"] == "p1"


def test_single_coil_and_file_masks(tmp_path):
    mask = np.zeros(20, dtype=np.float32)
    mask[::3] = 1
    write_volume(tmp_path / "s.h5", slices=2, single_coil=True, target=None, mask=mask)
    ds = SliceDataset(tmp_path)
    item = ds[0]
    assert item["kspace"].shape == (1, 24, 20) and math.isnan(item["max_value"])
    assert item["mask"].shape == (1, 1, 20) and torch.equal(item["mask"][0, 0],
                                                           torch.from_numpy(mask))
    (tmp_path / "per_slice").mkdir()
    write_volume(tmp_path / "per_slice" / "p.h5", slices=2, mask=np.ones((2, 24, 20), np.float32))
    assert SliceDataset(tmp_path / "per_slice")[1]["mask"].shape == (1, 24, 20)


def test_list_file_and_sample_rates(data_dir):
    (data_dir / "files.txt").write_text("# one volume\nb.h5\n")
    assert len(SliceDataset(data_dir / "files.txt")) == 2
    assert len(SliceDataset([data_dir / "a.h5"])) == 3
    a = SliceDataset(data_dir, sample_rate=0.6, seed=1)
    b = SliceDataset(data_dir, sample_rate=0.6, seed=1)
    assert len(a) == 3 and a.examples == b.examples
    vol = SliceDataset(data_dir, volume_sample_rate=0.5, seed=3)
    assert len(vol.volumes) == 1 and len(vol) == vol.volumes[0].num_slices
    with pytest.raises(ValueError, match="not both"):
        SliceDataset(data_dir, sample_rate=0.5, volume_sample_rate=0.5)


def test_bad_files_named_or_skipped(data_dir):
    (data_dir / "broken.h5").write_bytes(b"not an hdf5 file at all")
    with h5py.File(data_dir / "nokspace.h5", "w") as f:
        f["image"] = np.zeros((2, 4, 4), np.float32)
    with pytest.raises(DataFileError, match=r"broken\.h5"):
        SliceDataset(data_dir)
    with pytest.warns(UserWarning) as record:
        ds = SliceDataset(data_dir, skip_bad_files=True)
    messages = " | ".join(str(w.message) for w in record)
    assert "broken.h5" in messages and "nokspace.h5: expected a 'kspace' dataset" in messages
    assert len(ds) == 5


def test_truncated_file_fails_at_construction(tmp_path):
    write_volume(tmp_path / "t.h5", slices=4)
    data = (tmp_path / "t.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match=r"t\.h5"):
        SliceDataset(tmp_path)


def test_inconsistent_shapes_are_reported(tmp_path):
    write_volume(tmp_path / "m.h5", slices=2)
    with h5py.File(tmp_path / "m.h5", "a") as f:
        del f["sensitivity_map"]
        f["sensitivity_map"] = np.zeros((2, 3, 24, 20), np.complex64)
    with pytest.raises(DataFileError, match=r"sensitivity_map.*shape"):
        SliceDataset(tmp_path)


def test_handles_opened_once_per_process_and_pickle(data_dir, monkeypatch):
    ds = SliceDataset(data_dir)
    opened = []
    real = h5py.File

    def counting(*args, **kwargs):
        opened.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(h5py, "File", counting)
    for i in range(len(ds)):
        ds[i]
    for i in range(len(ds)):
        ds[i]
    assert len(opened) == 2  # one handle per file, reused across items
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handles == {} and len(clone) == len(ds)
    ds.close()


def test_build_rec_dataset_contract_and_collate(data_dir):
    cfg = {"data_path": str(data_dir), "mask_args": MASK, "crop_size": [16, 16]}
    ds = build_rec_dataset(cfg, "validation")
    batch = next(iter(DataLoader(ds, batch_size=2, num_workers=0)))
    assert batch["masked_kspace"].shape == (2, 4, 16, 16)
    assert batch["masked_kspace"].dtype == torch.complex64
    assert batch["sensitivity_maps"].dtype == torch.complex64
    assert batch["mask"].shape == (2, 1, 1, 16) and batch["mask"].dtype == torch.float32
    assert batch["initial_image"].shape == (2, 16, 16)
    assert batch["initial_image"].dtype == torch.complex64
    assert batch["target"].shape == (2, 16, 16) and batch["target"].dtype == torch.float32
    assert batch["fname"] == ["a.h5", "a.h5"] and batch["slice_idx"].tolist() == [0, 1]
    for key in ("max_value", "scale", "acceleration"):
        assert batch[key].shape == (2,)
    # max-normalised input; target un-normalises with scale
    assert batch["initial_image"][0].abs().max() == pytest.approx(1.0)
    # validation masks are deterministic per file; training masks change with the epoch
    again = build_rec_dataset(cfg, "validation")[0]["mask"]
    assert torch.equal(ds[0]["mask"], again)
    train = build_rec_dataset(cfg, "train")
    masks = []
    for epoch in range(5):
        train.set_epoch(epoch)
        masks.append(train[0]["mask"])
    assert any(not torch.equal(masks[0], m) for m in masks[1:])


def test_build_rec_dataset_rss_and_split_folders(tmp_path):
    (tmp_path / "val").mkdir()
    write_volume(tmp_path / "val" / "v.h5", slices=1, target="reconstruction_rss", maps=False)
    ds = build_rec_dataset({"data_path": str(tmp_path), "coil_combination_method": "rss",
                            "mask_args": MASK, "normalize": "none"}, "validation")
    item = ds[0]
    assert ds.volumes[0].target_key == "reconstruction_rss" and item["scale"] == 1.0
    assert torch.allclose(item["initial_image"].imag, torch.zeros(()))


def test_build_rec_dataset_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="data_path"):
        build_rec_dataset({}, "train")
    with pytest.raises(ConfigError, match="does not exist"):
        build_rec_dataset({"data_path": str(tmp_path / "nope")}, "train")


def test_workers_read_in_parallel(data_dir):
    ds = build_rec_dataset({"data_path": str(data_dir), "mask_args": MASK}, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        items = list(DataLoader(ds, batch_size=None, num_workers=2))
    assert len(items) == len(ds)
    torch.testing.assert_close(items[3]["target"], ds[3]["target"])


def test_keep_kspace_is_scaled_like_masked_kspace(data_dir):
    cfg = {"data_path": str(data_dir), "mask_args": MASK, "keep_kspace": True}
    item = build_rec_dataset(cfg, "test")[0]
    torch.testing.assert_close(item["masked_kspace"], item["kspace"] * item["mask"])
    assert "kspace" not in build_rec_dataset({**cfg, "keep_kspace": False}, "test")[0]


def test_training_masks_reproducible_with_workers(data_dir):
    cfg = {"data_path": str(data_dir), "mask_args": MASK, "seed": 3}

    def masks():
        loader = DataLoader(build_rec_dataset(cfg, "train"), batch_size=None, num_workers=2,
                            generator=torch.Generator().manual_seed(0))
        return [item["mask"] for item in loader]

    first, second = masks(), masks()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert any(not torch.equal(first[0], m) for m in first[1:])


def test_training_draws_are_per_item_and_epoch_whatever_the_order_or_worker(data_dir):
    """An item's mask and augmentation come from (seed, epoch, index): a resumed epoch that
    skips items, another worker count or another order draws the same for each item."""
    cfg = {"data_path": str(data_dir), "mask_args": MASK, "seed": 3,
           "augmentations": {"global_phase": True, "flip": 0.5}}

    def items(order, epoch, workers):
        ds = build_rec_dataset(cfg, "train")
        ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=None, sampler=order, num_workers=workers)
        return {i: item for i, item in zip(order, loader, strict=True)}

    n = len(build_rec_dataset(cfg, "train"))
    ref = items(list(range(n)), epoch=1, workers=0)
    for other in (items(list(reversed(range(n))), 1, 2), items([3, 1], 1, 1)):
        for i, item in other.items():
            assert torch.equal(item["mask"], ref[i]["mask"])
            assert torch.equal(item["masked_kspace"], ref[i]["masked_kspace"])
    next_epoch = items(list(range(n)), epoch=2, workers=0)
    assert any(not torch.equal(next_epoch[i]["masked_kspace"], ref[i]["masked_kspace"])
               for i in range(n))


def test_transform_errors_name_the_file(tmp_path):
    write_volume(tmp_path / "big.h5", slices=1)
    with h5py.File(tmp_path / "big.h5", "a") as f:
        del f["reconstruction_sense"]
        f["reconstruction_sense"] = np.ones((1, 12, 12), np.float32)
    ds = build_rec_dataset({"data_path": str(tmp_path), "mask_args": MASK}, "val")
    with pytest.raises(ValueError, match=r"big\.h5 slice 0: target.*crop_size: \[12, 12\]"):
        ds[0]


def test_square_2d_mask_is_points_unless_the_layout_attribute_says_otherwise(tmp_path):
    # Regression: a [H, W] point mask was read as per-slice lines when slices == H.
    points = (np.random.default_rng(0).random((8, 10)) < 0.4).astype(np.float32)
    write_volume(tmp_path / "p.h5", slices=8, h=8, w=10, mask=points)
    ds = SliceDataset(tmp_path)
    assert ds.volumes[0].mask_layout == "points"
    for i in (0, 5):
        assert torch.equal(ds[i]["mask"], torch.from_numpy(points)[None])
    ds.close()
    with h5py.File(tmp_path / "p.h5", "a") as f:
        f["mask"].attrs["layout"] = "slice_lines"  # explicit: one line mask per slice
    ds = SliceDataset(tmp_path)
    assert ds[5]["mask"].shape == (1, 1, 10)
    assert torch.equal(ds[5]["mask"][0, 0], torch.from_numpy(points[5]))
    ds.close()
    for bad, match in (("rows", "expected one of"), ("slice_points", r"\[slices, H, W\]")):
        with h5py.File(tmp_path / "p.h5", "a") as f:
            f["mask"].attrs["layout"] = bad
        with pytest.raises(DataFileError, match=rf"p\.h5.*layout.*{match}"):
            SliceDataset(tmp_path)


@pytest.mark.parametrize("override", ["model.fft_normalization=backward",
                                      "model.fft_centered=false"])
def test_model_fft_keys_reach_the_dataset_transforms(tmp_path, override):
    # Regression: overriding only the model's FFT key left the data on the default convention.
    from atommic_core.cli.config import compose_config
    from atommic_rec.models import VarNet
    from atommic_rec.physics import adjoint_operator

    (tmp_path / "test").mkdir()
    write_volume(tmp_path / "test" / "t.h5", slices=1)
    cfg = compose_config(None, "rec_varnet", [override, f"model.data_root={tmp_path}"])
    model = VarNet(cfg.model)
    batch = torch.utils.data.default_collate([model.build_dataset(cfg.model.test_ds, "test")[0]])
    zero_filled = adjoint_operator(batch["masked_kspace"], batch["sensitivity_maps"],
                                   batch["mask"], **model.fft_kw)
    torch.testing.assert_close(zero_filled, batch["initial_image"])


def test_split_fft_key_contradicting_the_model_is_a_config_error(data_dir):
    split = {"data_path": str(data_dir), "mask_args": MASK, "fft_centered": True}
    with pytest.raises(ConfigError, match=r"test_ds\.fft_centered=True.*model\.fft_centered"):
        build_rec_dataset(split, "test", model_cfg={"fft_centered": False})
    with pytest.raises(ConfigError, match=r"validation_ds\.coil_combination_method='rss'.*"
                                          r"model\.coil_combination_method='SENSE'"):
        build_rec_dataset({**split, "coil_combination_method": "rss"}, "validation",
                          model_cfg={"coil_combination_method": "SENSE"})
    ds = build_rec_dataset({**split, "spatial_dims": (-2, -1)}, "test",
                           model_cfg={"fft_normalization": "none", "spatial_dims": [-2, -1],
                                      "coil_combination_method": "RSS"})
    names = {type(t).__name__: t for t in ds.transform}
    assert names["Target"].fft.fft_normalization == "none" and names["Target"].method == "rss"


@pytest.mark.parametrize("extra", [
    {"coil_combination_method": "rss", "crop_size": [16, 16], "normalize": "none"},
    {"coil_combination_method": "sense", "normalize": "max"},
])
def test_computed_target_max_value_is_the_volume_max_in_target_units(tmp_path, extra):
    # Regression: max_value was the slice max of a computed target and ignored normalize.
    from atommic_rec.physics import ifft2, rss_complex, sense_reduce
    from atommic_rec.transforms import center_crop_or_pad

    kspace, maps = write_volume(tmp_path / "n.h5", slices=3, target=None)  # slice 2 brightest
    images = ifft2(kspace)
    if "crop_size" in extra:
        images, maps = center_crop_or_pad(images, (16, 16)), center_crop_or_pad(maps, (16, 16))
    targets = rss_complex(images, dim=1) if extra["coil_combination_method"] == "rss" else \
        sense_reduce(images, maps[None]).abs()
    volume_max = float(targets.max())
    ds = build_rec_dataset({"data_path": str(tmp_path), "mask_args": MASK, **extra}, "test")
    for i in range(3):
        item = ds[i]
        assert item["max_value"] * item["scale"] == pytest.approx(volume_max, rel=1e-5)
        assert float(item["target"].max()) <= item["max_value"] * (1 + 1e-6)
    assert float(ds[2]["target"].max()) == pytest.approx(ds[2]["max_value"], rel=1e-5)


def test_non_finite_slice_is_named_and_skip_bad_files_skips_the_file(tmp_path):
    for name in ("a.h5", "b.h5"):
        write_volume(tmp_path / name, slices=3)
    with h5py.File(tmp_path / "b.h5", "r+") as f:
        k = f["kspace"][()]
        k[1, :, 2:4, 2:4] = np.nan
        f["kspace"][...] = k
    data = SliceDataset(tmp_path)
    data[0], data[3]  # finite slices read fine
    with pytest.raises(DataFileError, match=r"b\.h5: slice 1: kspace holds 16 NaN/Inf value\(s\); "
                                            r"hint: .*skip_bad_files"):
        data[4]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = SliceDataset(tmp_path, skip_bad_files=True)
    assert [v.path.name for v in kept.volumes] == ["a.h5"]
    assert any("'kspace' holds 16 NaN/Inf" in str(w.message) for w in caught)


@pytest.mark.parametrize(("values", "dtype", "bad"), [
    ([1.0, 2.0], torch.float32, 0),
    ([3e38, 3e38, 1.0], torch.float32, 0),            # the sum overflows: exact count says 0
    ([float("inf"), float("-inf"), 1.0], torch.float32, 2),  # sum NaN
    ([float("nan"), 1.0], torch.float64, 1),
    ([complex(1, float("nan")), 1j], torch.complex64, 1),
    ([complex(float("inf"), 0), complex(-3e38, 3e38)], torch.complex64, 1),
])
def test_non_finite_count_fast_path_is_exact(values, dtype, bad):
    from atommic_rec.data.slice_dataset import _non_finite

    assert _non_finite(torch.tensor(values, dtype=dtype)) == bad
    assert _non_finite(torch.tensor([1, 2])) == 0 and _non_finite(None) == 0
