"""Segmentation data: readers, slices/volumes, complex, multilabel, cache, augmentations, demo."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from atommic_seg.__main__ import main as seg_main
from atommic_seg.data import Augmenter, SegmentationDataset, find_cases
from atommic_seg.data.demo import CLASS_NAMES, find_icbm152, make_demo_data


@pytest.fixture
def nifti_root(tmp_path, write_nifti_case):
    rng = np.random.default_rng(0)
    image = rng.random((6, 5, 4)).astype(np.float32)  # [X, Y, Z]
    label = rng.integers(0, 3, (6, 5, 4)).astype(np.uint8)
    write_nifti_case(tmp_path, "a", image, label)
    return tmp_path, image, label


def test_nifti_slices_follow_last_axis(nifti_root):
    root, image, label = nifti_root
    ds = SegmentationDataset(root, dimensionality=2, num_classes=3)
    assert len(ds) == 4
    item = ds[2]
    assert item["image"].shape == (1, 6, 5) and item["image"].dtype == torch.float32
    np.testing.assert_allclose(item["image"][0].numpy(), image[:, :, 2] / image.max(), rtol=1e-6)
    assert item["target"].dtype == torch.int64
    np.testing.assert_array_equal(item["target"].numpy(), label[:, :, 2])
    assert item["spacing"].tolist() == [2.0, 1.5, 1.0]  # slice, H, W
    assert item["affine"][0, 0] == 1.5 and item["case"] == "a" and item["format"] == "nifti"


def test_volume_items_and_cache_reads_once(nifti_root):
    root, _, _ = nifti_root
    ds3 = SegmentationDataset(root, dimensionality=3, num_classes=3)
    assert len(ds3) == 1
    assert ds3[0]["image"].shape == (1, 4, 6, 5) and ds3[0]["slice"] == -1
    ds2 = SegmentationDataset(root, dimensionality=2, num_classes=3)
    for i in range(len(ds2)):
        ds2[i]
    assert ds2.cache.reads == 1


def test_hdf5_complex_and_multilabel(tmp_path):
    rng = np.random.default_rng(1)
    image = (rng.random((3, 4, 5)) + 1j * rng.random((3, 4, 5))).astype(np.complex64)
    seg = (rng.random((3, 2, 4, 5)) > 0.5).astype(np.uint8)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["reconstruction"] = image
        f["segmentation"] = seg
        f.attrs["spacing"] = [3.0, 0.5, 0.5]
    ds = SegmentationDataset(tmp_path, dimensionality=2, num_classes=2, label_mode="multilabel",
                             complex_data=True)
    item = ds[1]
    scale = np.abs(image).max()
    assert item["image"].shape == (2, 4, 5)
    np.testing.assert_allclose(item["image"][0].numpy(), image[1].real / scale, rtol=1e-6)
    np.testing.assert_allclose(item["image"][1].numpy(), image[1].imag / scale, rtol=1e-6)
    assert item["target"].shape == (2, 4, 5) and item["target"].dtype == torch.float32
    np.testing.assert_array_equal(item["target"].numpy(), seg[1])
    assert item["spacing"].tolist() == [3.0, 0.5, 0.5]
    vol = SegmentationDataset(tmp_path, dimensionality=3, num_classes=2,
                              label_mode="multilabel")[0]
    assert vol["image"].shape == (1, 3, 4, 5)  # magnitude when complex_data is off
    np.testing.assert_array_equal(vol["target"].numpy(), np.moveaxis(seg, 1, 0))


def test_bad_inputs_are_clear(tmp_path, nifti_root):
    with pytest.raises(FileNotFoundError, match="make-demo-data"):
        find_cases(tmp_path / "missing")
    root, _, _ = nifti_root
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationDataset(root, num_classes=2)[0]
    with pytest.raises(ValueError, match="dimensionality"):
        SegmentationDataset(root, dimensionality=4)


def test_augmentations_seeded_and_consistent():
    aug = Augmenter({"flip": {"prob": 1.0, "axes": [-1, -2]}, "rotate": {"prob": 1.0},
                     "elastic": {"prob": 1.0, "alpha": 2.0}, "intensity": {"prob": 1.0,
                                                                         "noise_std": 0.01}})
    image = np.zeros((1, 16, 16), np.float32)
    image[0, 4:10, 3:8] = 1.0
    label = (image[0] > 0).astype(np.int64)
    a1 = aug(image, label, np.random.default_rng(7))
    a2 = aug(image, label, np.random.default_rng(7))
    a3 = aug(image, label, np.random.default_rng(8))
    np.testing.assert_array_equal(a1[0], a2[0])
    assert not np.array_equal(a1[0], a3[0])
    assert set(np.unique(a1[1])) <= {0, 1}  # nearest interpolation keeps labels discrete
    # label follows the geometry: the labelled region stays where the bright pixels went
    assert a1[0][0][a1[1] == 1].mean() > a1[0][0][a1[1] == 0].mean() + 0.5


def test_flip_moves_image_and_label_together():
    aug = Augmenter({"flip": {"prob": 1.0, "axes": [-1]}})
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    label = np.arange(12).reshape(3, 4) % 2
    for seed in range(6):
        img, lab = aug(image, label, np.random.default_rng(seed))
        flipped = not np.array_equal(img, image)
        np.testing.assert_array_equal(lab, label[:, ::-1] if flipped else label)


def test_unknown_augmentation_is_an_error():
    with pytest.raises(ValueError, match="unknown augmentations"):
        Augmenter({"flipp": {}})


def test_dataset_augmentation_seed_epoch(nifti_root):
    root, _, _ = nifti_root
    cfg = {"intensity": {"prob": 1.0, "noise_std": 0.1}}
    a = SegmentationDataset(root, num_classes=3, augmentations=cfg, seed=1)
    b = SegmentationDataset(root, num_classes=3, augmentations=cfg, seed=1)
    assert torch.equal(a[0]["image"], b[0]["image"])
    b.set_epoch(1)
    assert not torch.equal(a[0]["image"], b[0]["image"])


def test_persistent_workers_see_each_epoch(nifti_root):
    # regression: set_epoch changed the main process's copy only, so persistent workers
    # repeated epoch 0's draws in every epoch
    root, _, _ = nifti_root
    cfg = {"intensity": {"prob": 1.0, "noise_std": 0.1}, "flip": {"prob": 0.5}}
    ds = SegmentationDataset(root, num_classes=3, augmentations=cfg, seed=4)
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), num_workers=1,
                                         persistent_workers=True)
    seen = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        seen.append(next(iter(loader))["image"])
    assert not torch.equal(seen[0], seen[1])
    reference = SegmentationDataset(root, num_classes=3, augmentations=cfg, seed=4)
    for epoch in (1, 0):  # item i of epoch e is a function of (seed, e, i) only
        reference.set_epoch(epoch)
        expected = torch.stack([reference[i]["image"] for i in range(len(reference))])
        assert torch.equal(seen[epoch], expected)


def test_example_groups_name_the_case_of_each_item(tmp_path, write_nifti_case):
    for name, depth in (("a", 3), ("b", 2)):
        write_nifti_case(tmp_path, name, np.ones((4, 4, depth), np.float32),
                         np.zeros((4, 4, depth), np.uint8))
    assert SegmentationDataset(tmp_path).example_groups == ["a", "a", "a", "b", "b"]
    volumes = SegmentationDataset(tmp_path, dimensionality=3)
    assert volumes.example_groups == ["a", "b"]


def test_context_slices_are_neighbours_with_replicated_edges(tmp_path):
    image = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 3, 2), np.float32)
    image = image + 1j * (image + 10)  # slice s: real s, imaginary s + 10
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["image"] = image.astype(np.complex64)
        f["segmentation"] = np.zeros((4, 3, 2), np.uint8)
    ds = SegmentationDataset(tmp_path / "c.h5", complex_data=True, normalization="none",
                             context_slices=1)
    first, last = ds[0]["image"], ds[3]["image"]
    assert first.shape == (6, 3, 2)  # 3 slices x (real, imaginary)
    assert first[:, 0, 0].tolist() == [0, 10, 0, 10, 1, 11]  # slice -1 repeats slice 0
    assert last[:, 0, 0].tolist() == [2, 12, 3, 13, 3, 13]
    magnitude = SegmentationDataset(tmp_path / "c.h5", normalization="none", context_slices=2,
                                    augmentations={"flip": {"prob": 1.0}})
    item = magnitude[1]["image"]
    expected = np.abs(image[[0, 0, 1, 2, 3], 0, 0])
    assert item.shape == (5, 3, 2) and np.allclose(item[:, 0, -1], expected)  # flipped W
    with pytest.raises(ValueError, match="context_slices"):
        SegmentationDataset(tmp_path / "c.h5", dimensionality=3, context_slices=1)


def test_demo_phantom_and_cli(tmp_path, capsys):
    assert seg_main(["make-demo-data", str(tmp_path / "d"), "--source", "phantom",
                     "--splits", "1", "1", "0", "--shape", "16", "16", "6"]) == 0
    assert "phantom" in capsys.readouterr().out
    info = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert info["classes"] == list(CLASS_NAMES) and info["splits"]["val"] == ["case_001"]
    ds = SegmentationDataset(tmp_path / "d" / "train", num_classes=4)
    labels = np.concatenate([ds[i]["target"].numpy().ravel() for i in range(len(ds))])
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    make_demo_data(tmp_path / "h", splits=(1, 0, 0), source="phantom", shape=(12, 12, 4),
                   fmt="hdf5")
    assert SegmentationDataset(tmp_path / "h" / "train", num_classes=4)[0]["format"] == "hdf5"


def test_demo_says_when_it_falls_back_to_the_phantom(tmp_path, capsys, monkeypatch):
    import atommic_seg.data.demo as demo

    monkeypatch.setattr(demo, "find_icbm152", lambda: None)  # as without nilearn
    args = ["--splits", "1", "0", "0", "--shape", "12", "12", "4"]
    assert seg_main(["make-demo-data", str(tmp_path / "auto"), *args]) == 0
    out, err = capsys.readouterr()
    assert "wrote phantom demo data" in out
    assert err == ("note: nilearn is not installed, so this is the NumPy phantom, not brain "
                   "anatomy; for the ICBM152 anatomy: pip install nibabel && pip install "
                   "--no-deps nilearn\n")
    assert seg_main(["make-demo-data", str(tmp_path / "asked"), "--source", "phantom",
                     *args]) == 0
    assert capsys.readouterr().err == ""  # asked for the phantom: nothing to say


@pytest.mark.slow
@pytest.mark.skipif(find_icbm152() is None, reason="nilearn (ICBM152 maps) not installed")
def test_demo_icbm_anatomy_labels(tmp_path):
    info = make_demo_data(tmp_path, splits=(1, 0, 0), source="icbm", shape=(48, 56, 40))
    assert info["source"] == "icbm152"
    ds = SegmentationDataset(tmp_path / "train", dimensionality=3, num_classes=4,
                             normalization="none")
    item = ds[0]
    image, label = item["image"][0], item["target"]
    counts = torch.bincount(label.flatten(), minlength=4)
    assert (counts > 100).all()
    # T1 contrast: white matter brighter than grey matter brighter than CSF
    means = [float(image[label == c].mean()) for c in (1, 2, 3)]
    assert means[0] < means[1] < means[2]


class _ReportingDataset(SegmentationDataset):
    """Adds the worker's cache read count at the time each item is made."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        info = torch.utils.data.get_worker_info()
        item["reads"] = self.cache.reads
        item["worker"] = info.id if info is not None else -1
        return item


def test_each_worker_reads_a_volume_once(nifti_root):
    root, _, _ = nifti_root
    ds = _ReportingDataset(root, dimensionality=2, num_classes=3)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2)
    items = list(loader)
    assert len(items) == 4 and {int(b["worker"]) for b in items} == {0, 1}
    assert all(int(b["reads"]) == 1 for b in items)  # one read per worker, not per slice


def test_random_crop_aligned_seeded_and_padded(tmp_path, write_nifti_case):
    label = np.random.default_rng(2).integers(0, 5, (9, 7, 6)).astype(np.uint8)
    write_nifti_case(tmp_path, "c", label.astype(np.float32), label)
    ds = SegmentationDataset(tmp_path, dimensionality=3, num_classes=5, normalization="none",
                             crop_size=(4, 8, 5), seed=3)
    item = ds[0]
    assert item["image"].shape == (1, 4, 8, 5) and item["target"].shape == (4, 8, 5)
    # the image equals the label everywhere, so a misaligned crop would show
    np.testing.assert_array_equal(item["image"][0].numpy(), item["target"].numpy())
    assert torch.equal(ds[0]["image"], item["image"])  # seeded
    padded = SegmentationDataset(tmp_path, dimensionality=2, num_classes=5, crop_size=(12, 4))
    assert padded[0]["image"].shape == (1, 12, 4) and padded[0]["target"].shape == (12, 4)
    with pytest.raises(ValueError, match="crop_size"):
        SegmentationDataset(tmp_path, dimensionality=3, num_classes=5, crop_size=(4, 4))
