"""SegmentationModel end to end with a Lightning Trainer: fit, test CSV, predict files."""

from __future__ import annotations

import csv
import time

import h5py
import nibabel as nib
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from PIL import Image

from atommic_core.training_data import ResumableSampler
from atommic_seg.models import SegmentationUNet, SegmentationUNet3D
from atommic_seg.models.writers import write_label_volume


def _cfg(root, **extra):
    split = {"batch_size": 4}
    return {
        "num_classes": 4, "channels": 4, "num_pool_layers": 2,
        "class_names": ["background", "csf", "gm", "wm"],
        "train_ds": {"data_path": str(root / "train"), **split, "augmentations":
                     {"flip": {"prob": 0.5}, "intensity": {"prob": 0.5, "noise_std": 0.01}}},
        "validation_ds": {"data_path": str(root / "val"), **split},
        "test_ds": {"data_path": str(root / "test"), **split},
        "optim": {"name": "adam", "lr": 1e-2}, **extra,
    }


def _trainer(steps=2):
    return pl.Trainer(max_steps=steps, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=1, num_sanity_val_steps=0)


def test_unet_fit_test_predict(tiny_demo, tmp_path, capsys):
    model = SegmentationUNet(_cfg(tiny_demo))
    trainer = _trainer()
    trainer.fit(model)
    assert trainer.global_step == 2
    model.output_dir = str(tmp_path)
    results = trainer.test(model, verbose=False)[0]
    assert 0.0 <= results["test_dice"] <= 1.0
    out = capsys.readouterr().out
    assert "Segmentation test metrics" in out and "grey" not in out and "gm" in out
    with open(tmp_path / "test_metrics_per_case.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == ["csf", "gm", "wm"]  # one test case, foreground only
    assert set(rows[0]) == {"case", "class", "dice", "iou", "precision", "recall", "f1",
                            "hd95", "asd"}
    # predict: one label volume per case with the input's affine, plus an overlay
    model.cfg.predict_ds = {"data_path": str(tiny_demo / "test"), "batch_size": 3}
    outputs = trainer.predict(model)
    written = model.write_predictions(outputs, str(tmp_path / "pred"))
    nii = [w for w in written if w.endswith(".nii.gz")]
    assert len(nii) == 1 and any(w.endswith("_overlay.png") for w in written)
    src = nib.load(tiny_demo / "test" / "images" / "case_003.nii.gz")
    pred = nib.load(nii[0])
    assert pred.shape == src.shape
    np.testing.assert_allclose(pred.affine, src.affine)
    assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1, 2, 3}
    png = Image.open(next(w for w in written if w.endswith(".png")))
    assert png.mode in ("RGB", "RGBA")  # a figure with a legend (orientation: tests below)


def test_predicted_volume_matches_per_slice_forward(tiny_demo, tmp_path):
    """Assembling slices into the volume keeps order: compare with a manual forward."""
    model = SegmentationUNet(_cfg(tiny_demo)).eval()
    model.cfg.predict_ds = {"data_path": str(tiny_demo / "test"), "batch_size": 3,
                            "output_format": "hdf5", "overlays": False}
    loader = model.predict_dataloader()
    outputs = [model.predict_step(b, i) for i, b in enumerate(loader)]
    written = model.write_predictions(outputs, str(tmp_path))
    assert len(written) == 1 and written[0].endswith(".h5")
    with h5py.File(written[0]) as f:
        labels = f["segmentation"][()]
    ds = loader.dataset
    with torch.no_grad():
        manual = np.stack([model(ds[i]["image"][None]).argmax(1)[0].numpy()
                           for i in range(len(ds))])
    np.testing.assert_array_equal(labels, manual)


def test_context_slices_end_to_end_and_overlay_of_the_slice_itself(tiny_demo, tmp_path):
    model = SegmentationUNet(_cfg(tiny_demo, context_slices=1,
                                  inference={"flip_tta": [-1]}))
    _trainer(steps=1).fit(model)
    model.eval()
    model.cfg.predict_ds = {"data_path": str(tiny_demo / "test"), "batch_size": 3}
    loader = model.predict_dataloader()
    outputs = [model.predict_step(b, i) for i, b in enumerate(loader)]
    ((case, entry),) = [o for batch in outputs for o in batch]
    assert case == "case_003"
    middle = loader.dataset[entry["n"] // 2]["image"]
    assert middle.shape[0] == 3
    np.testing.assert_array_equal(entry["image"], middle[1].numpy())  # centre channel
    assert entry["labels"].shape == (entry["n"], 20, 20)


def test_unet3d_multilabel_test_metrics(tmp_path):
    """Volumes with one channel per class reach the metrics in the right layout."""
    rng = np.random.default_rng(0)
    seg = np.zeros((4, 2, 8, 8), np.uint8)  # [S, C, H, W]
    seg[1:3, 0, 2:6, 2:6] = 1
    seg[:, 1, :3, :] = 1
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["image"] = rng.random((4, 8, 8)).astype(np.float32)
        f["segmentation"] = seg
    cfg = _cfg(tmp_path, label_mode="multilabel", num_classes=2, class_names=["a", "b"])
    cfg["test_ds"]["data_path"] = str(tmp_path / "m.h5")
    model = SegmentationUNet3D(cfg)
    batch = next(iter(model.test_dataloader()))
    assert batch["target"].shape == (1, 2, 4, 8, 8)  # [B, C, S, H, W]
    # logits that reproduce the target exactly: every metric must be perfect
    model.forward = lambda image: batch["target"] * 2 - 1  # type: ignore[method-assign]
    model.test_step(batch, 0)
    rows = {r["class"]: r for r in model._test_rows}
    assert set(rows) == {"a", "b"}
    assert all(r["dice"] == 1.0 and r["hd95"] == 0.0 for r in rows.values())
    # a prediction with channel b missing: b scores 0, a stays perfect
    model._test_rows = []
    model.forward = lambda image: torch.stack(  # type: ignore[method-assign]
        [batch["target"][:, 0] * 2 - 1, -torch.ones_like(batch["target"][:, 1])], 1)
    model.test_step(batch, 0)
    rows = {r["class"]: r for r in model._test_rows}
    assert rows["a"]["dice"] == 1.0 and rows["b"]["dice"] == 0.0


def test_write_label_volume_roundtrip(tmp_path):
    labels = np.random.default_rng(0).integers(0, 3, (4, 5, 6)).astype(np.uint8)  # [S, H, W]
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    path = write_label_volume(labels, tmp_path / "x", "nifti", affine=affine)
    img = nib.load(path)
    assert img.shape == (5, 6, 4)
    np.testing.assert_array_equal(np.moveaxis(np.asarray(img.dataobj), 2, 0), labels)
    with pytest.raises(ValueError, match="nifti or hdf5"):
        write_label_volume(labels, tmp_path / "y", "png")


def test_overlay_colours_only_labelled_pixels(tmp_path):
    from atommic_seg.models.writers import write_overlay_png

    image = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    labels = np.zeros((5, 6), np.uint8)
    labels[1:3, 2:4] = 2
    rgb = np.asarray(Image.open(write_overlay_png(image, labels, tmp_path / "o.png")))
    grey = rgb[labels == 0]
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
    coloured = rgb[labels == 2].astype(int)
    assert (np.abs(coloured[:, 0] - coloured[:, 1]) > 10).any()
    multi = write_overlay_png(image, np.stack([labels == 2, labels == 0]), tmp_path / "m.png")
    assert np.asarray(Image.open(multi)).shape == (5, 6, 3)


class _RecordingUNet(SegmentationUNet):
    """Keeps the training batches' images per epoch."""

    def on_fit_start(self):
        self.seen = {}

    def on_train_epoch_start(self):
        if not self.seen:  # first epoch of a fit: give prefetching workers time to draw
            time.sleep(0.5)
        super().on_train_epoch_start()

    def training_step(self, batch, batch_idx):
        self.seen.setdefault(self.current_epoch, []).append(batch["image"].clone())
        return super().training_step(batch, batch_idx)


def test_lightning_sets_the_epoch_before_workers_draw(tiny_demo, tmp_path):
    """With persistent workers, epoch e's items are (seed, e, i)'s, also after a resume (the
    core sets the epoch before Lightning creates the resumed epoch's iterator)."""
    cfg = _cfg(tiny_demo)
    cfg["train_ds"].update(num_workers=1, persistent_workers=True, seed=3,
                           augmentations={"intensity": {"prob": 1.0, "noise_std": 0.1}})
    reference = SegmentationUNet(cfg).build_dataset(OmegaConf.create(cfg["train_ds"]), "train")

    def expected(epoch):  # in the order of the training sampler of that epoch
        sampler = ResumableSampler(len(reference), 3, batch_size=4)
        sampler.set_epoch(epoch)
        reference.set_epoch(epoch)
        return torch.stack([reference[i]["image"] for i in sampler])

    def fit(epochs, ckpt_path=None):
        model = _RecordingUNet(cfg)
        step6 = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=6,
                                             save_top_k=-1, filename="{step}")
        trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, limit_val_batches=0,
                             callbacks=[step6])
        trainer.fit(model, ckpt_path=ckpt_path)
        return {e: torch.cat(b) for e, b in model.seen.items()}

    seen = fit(2)
    assert sorted(seen) == [0, 1] and not torch.equal(seen[0], seen[1])
    for epoch in (0, 1):
        assert torch.equal(seen[epoch], expected(epoch))
    # resumed after step 6 (4 batches of 4 per epoch: epoch 1, 2 batches done), 3 epochs in all
    resumed = fit(3, ckpt_path=str(tmp_path / "step=6.ckpt"))
    assert sorted(resumed) == [1, 2]
    assert torch.equal(resumed[1], expected(1)[8:]) and torch.equal(resumed[2], expected(2))


def test_augmentations_and_crops_only_for_training(tiny_demo):
    aug = {"flip": {"prob": 1.0}}
    cfg = _cfg(tiny_demo)
    for split in ("validation_ds", "test_ds"):
        cfg[split].update(augmentations=aug, crop_size=[8, 8])
    cfg["train_ds"]["crop_size"] = [8, 8]
    model = SegmentationUNet(cfg)
    train = model.build_dataset(model.cfg.train_ds, "train")
    assert train.augmenter is not None and train.crop_size == (8, 8)
    for split, key in (("validation", "validation_ds"), ("test", "test_ds")):
        ds = model.build_dataset(model.cfg[key], split)
        assert ds.augmenter is None and ds.crop_size is None


def _captured_figures(monkeypatch):
    import matplotlib.figure

    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, path, **kw: (saved.append(self), open(path, "wb").close()))
    return saved


def test_display_slice_shows_nifti_slices_as_viewers_do():
    from atommic_seg.models.writers import display_slice

    slice_xy = np.zeros((64, 80))  # [X, Y] of an axial RAS slice: 64 wide, 80 tall
    slice_xy[0, 79] = 1  # patient right-most... x=0 is the left edge (R increases with x)
    ras = np.diag([3.0, 3.0, 3.0, 1.0])
    shown = display_slice(slice_xy, ras)
    assert shown.shape == (80, 64)
    assert shown[0, 0] == 1  # anterior (max y) at the top, x = 0 on the left
    lps = np.diag([-3.0, -3.0, 3.0, 1.0])  # DICOM-like LPS: x runs to the left, y to the back
    np.testing.assert_array_equal(display_slice(slice_xy[::-1, ::-1], lps), shown)
    swapped = np.array([[0, 3.0, 0, 0], [3.0, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(display_slice(slice_xy.T, swapped), shown)  # [Y, X] on disk
    assert display_slice(slice_xy, None) is slice_xy  # HDF5 slices are stored as shown


def test_overlay_has_a_legend_of_class_names_and_viewer_orientation(tmp_path, monkeypatch):
    from atommic_seg.models.writers import write_overlay_png

    saved = _captured_figures(monkeypatch)
    image = np.zeros((64, 80), np.float32)
    labels = np.zeros((64, 80), np.uint8)
    labels[:4, -4:] = 2  # left-anterior corner
    write_overlay_png(image, labels, tmp_path / "o.png", class_names=["bg", "csf", "gm", "wm"],
                      affine=np.eye(4))
    (fig,) = saved
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["csf", "gm", "wm"]
    rgb = ax.images[0].get_array()
    assert rgb.shape == (80, 64, 3)  # was 64 x 80, rotated by 90 degrees
    assert rgb[0, 0, 0] != rgb[0, 0, 1] and rgb[-1, -1, 0] == rgb[-1, -1, 1]  # label top-left


def test_predict_writes_a_dicom_label_series_with_the_nifti_geometry(tiny_demo, tmp_path):
    import pydicom

    model = SegmentationUNet(_cfg(tiny_demo, write_dicom=True)).eval()
    model.cfg.predict_ds = {"data_path": str(tiny_demo / "test"), "batch_size": 4,
                            "overlays": False}
    loader = model.predict_dataloader()
    outputs = [model.predict_step(b, i) for i, b in enumerate(loader)]
    written = model.write_predictions(outputs, str(tmp_path))
    nifti = nib.load(next(w for w in written if w.endswith(".nii.gz")))
    series = sorted(w for w in written if w.endswith(".dcm"))
    slices = [pydicom.dcmread(p) for p in series]
    assert len(slices) == nifti.shape[2] == 8
    labels = np.stack([s.pixel_array for s in slices], axis=-1)  # back to [X, Y, Z]
    np.testing.assert_array_equal(labels, np.asarray(nifti.dataobj))
    assert slices[0].ImageComments.startswith("labels: 0=background, 1=csf, 2=gm, 3=wm")
    lps = np.diag([-1.0, -1.0, 1.0])
    for k in (0, 7):
        expected = lps @ (nifti.affine[:3, :3] @ [0, 0, k] + nifti.affine[:3, 3])
        np.testing.assert_allclose([float(v) for v in slices[k].ImagePositionPatient],
                                   expected, atol=1e-4)
