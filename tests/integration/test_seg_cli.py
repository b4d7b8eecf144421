"""SEG through the real CLI.

In an environment with only atommic-core + atommic-seg, for a tiny UNet (2D) and a tiny
UNet3D: generate phantom demo data, train a few steps (the ``.atommic`` archive is written at
the end), test and predict from that archive, then restore it in-process and check it
reproduces the predicted label map. In this process: each kind of bad data is one error line
(exit 2) before any run folder exists; the same command twice gives identical metrics; a run
interrupted mid-epoch and resumed ends with the uninterrupted run's weights.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from atommic_core.cli import main
from atommic_seg.__main__ import main as seg_main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = {
    "seg_unet": ["model.channels=4", "model.num_pool_layers=2"],
    "seg_unet3d": ["model.channels=4", "model.num_pool_layers=2"],
}

_RESTORE_CHECK = """
import nibabel as nib, numpy as np, torch
from omegaconf import OmegaConf
from atommic_seg.models import MODELS

def check(name, archive, predicted):
    model = MODELS[name].restore_from(archive, map_location="cpu").eval()
    ds = model.build_dataset(OmegaConf.create({{"data_path": {test_dir!r}}}), "predict")
    with torch.no_grad():  # infer: the config's inference options (flip TTA) as predict
        if model.dimensionality == 2:
            labels = np.stack([model.infer(ds[i]["image"][None]).argmax(1)[0].numpy()
                               for i in range(len(ds))])
        else:
            labels = model.infer(ds[0]["image"][None]).argmax(1)[0].numpy()
    saved = np.moveaxis(np.asarray(nib.load(predicted).dataobj), 2, 0)
    assert saved.shape == labels.shape, (saved.shape, labels.shape)
    assert (saved == labels).all(), "restored model disagrees with the CLI prediction"
    print("restore-ok", type(model).__name__)

"""


def _run(python: Path, args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, f"{args[:3]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _train_test_predict(python: Path, config: str, data: Path, tmp_path: Path,
                        env: dict[str, str]) -> tuple[Path, Path]:
    """Train, then test and predict from the archive; return (archive, predicted NIfTI)."""
    common = [f"model.data_root={data}", f"exp_manager.exp_dir={tmp_path / 'exp'}",
              f"exp_manager.name={config}", "model.train_ds.batch_size=2",
              "trainer.log_every_n_steps=1", *TINY[config]]
    cli = ["-m", "atommic_core"]
    _run(python, [*cli, "train", "--config-name", config, *common, "trainer.max_epochs=1",
                  "+trainer.max_steps=3", "+exp_manager.version=train"], tmp_path, env)
    run_dir = tmp_path / "exp" / config
    archive = run_dir / "train" / "checkpoints" / f"{config}.atommic"
    assert archive.is_file()
    # train also tests (test_ds is set): per-case CSV with the demo data's foreground classes
    with open(run_dir / "train" / "test_metrics_per_case.csv") as f:
        assert {r["class"] for r in csv.DictReader(f)} == {"csf", "grey_matter",
                                                           "white_matter"}
    restore = [f"model.restore_path={archive}"]
    out = _run(python, [*cli, "test", "--config-name", config, *common, *restore,
                        "+exp_manager.version=test"], tmp_path, env)
    assert "Segmentation test metrics" in out
    assert (run_dir / "test" / "test_metrics_summary.csv").is_file()
    _run(python, [*cli, "predict", "--config-name", config, *common, *restore,
                  "+exp_manager.version=predict"], tmp_path, env)
    pred_dir = run_dir / "predict" / "predictions"
    assert (pred_dir / "case_003_overlay.png").is_file()
    return archive, pred_dir / "case_003.nii.gz"


def test_unet_and_unet3d_train_save_restore_test_predict(seg_only_python, subprocess_env,
                                                        tmp_path):
    data = tmp_path / "data"
    _run(seg_only_python, ["-m", "atommic_seg", "make-demo-data", str(data), "--source",
                           "phantom", "--splits", "2", "1", "1", "--shape", "20", "20", "8"],
         tmp_path, subprocess_env)
    checks = []
    for config, model_name in (("seg_unet", "SegmentationUNet"),
                               ("seg_unet3d", "SegmentationUNet3D")):
        archive, predicted = _train_test_predict(seg_only_python, config, data, tmp_path,
                                                 subprocess_env)
        checks.append(f"check({model_name!r}, {str(archive)!r}, {str(predicted)!r})")
    # restore both archives in-process: they must reproduce the CLI's label maps
    script = _RESTORE_CHECK.format(test_dir=str(data / "test")) + "\n".join(checks)
    out = _run(seg_only_python, ["-c", script], tmp_path, subprocess_env)
    assert out.count("restore-ok") == 2


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _assert_same_rows(a: list[dict[str, str]], b: list[dict[str, str]]) -> None:
    assert [(r["case"], r["class"]) for r in a] == [(r["case"], r["class"]) for r in b]
    for ra, rb in zip(a, b, strict=True):
        for key in ra.keys() - {"case", "class"}:
            assert float(ra[key]) == pytest.approx(float(rb[key]), abs=1e-6, nan_ok=True), key


def test_ddp_two_processes_match_one_process(seg_only_python, subprocess_env, tmp_path):
    """2-process DDP train+test prints one table, equal to a 1-process test of its archive;
    val_dice is that of the whole validation set; predict writes each case once."""
    data = tmp_path / "data"
    _run(seg_only_python, ["-m", "atommic_seg", "make-demo-data", str(data), "--source",
                           "phantom", "--splits", "2", "3", "3", "--shape", "16", "16", "4"],
         tmp_path, subprocess_env)
    exp = tmp_path / "exp"
    cli = ["-m", "atommic_core"]
    common = ["--config-name", "seg_unet", f"model.data_root={data}",
              f"exp_manager.exp_dir={exp}", "exp_manager.create_tensorboard_logger=false",
              "trainer.enable_progress_bar=false", "model.train_ds.batch_size=2",
              *TINY["seg_unet"]]
    ddp = ["trainer.devices=2", "trainer.strategy=ddp"]
    out = _run(seg_only_python, [*cli, "train", *common, *ddp, "trainer.max_epochs=1",
                                 "+trainer.max_steps=2", "+exp_manager.version=ddp"],
               tmp_path, subprocess_env)
    assert out.count("Segmentation test metrics (3 cases") == 1  # rank 0 only, all cases
    run = exp / "seg_unet" / "ddp"
    ddp_dice = json.loads((run / "test_results.json").read_text())[0]["test_dice"]
    archive = run / "checkpoints" / "seg_unet.atommic"
    restore = [f"model.restore_path={archive}"]
    # one process: test the DDP run's archive; meanwhile predict it on 2 processes
    single = subprocess.Popen([str(seg_only_python), *cli, "test", *common,
                               *restore, "+exp_manager.version=single"], cwd=tmp_path,
                              env=subprocess_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    _run(seg_only_python, [*cli, "predict", *common, *restore, *ddp,
                           "+exp_manager.version=predict"], tmp_path, subprocess_env)
    single_out = single.communicate(timeout=400)[0]
    assert single.returncode == 0, single_out[-3000:]
    one = exp / "seg_unet" / "single"
    _assert_same_rows(_csv_rows(run / "test_metrics_per_case.csv"),
                      _csv_rows(one / "test_metrics_per_case.csv"))
    _assert_same_rows(_csv_rows(run / "test_metrics_summary.csv"),
                      _csv_rows(one / "test_metrics_summary.csv"))
    single_dice = json.loads((one / "test_results.json").read_text())[0]["test_dice"]
    assert ddp_dice == pytest.approx(single_dice, abs=1e-6)
    # the best checkpoint is the only validation's: its val_dice over all cases, one process
    import pytorch_lightning as pl
    from omegaconf import open_dict

    from atommic_seg.models import SegmentationUNet

    model = SegmentationUNet.restore_from(str(archive), map_location="cpu")
    with open_dict(model.cfg):
        model.cfg.validation_ds.data_path = str(data / "val")
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    val_dice = trainer.validate(model, verbose=False)[0]["val_dice"]
    logged = [r["val_dice"] for r in _csv_rows(run / "csv" / "metrics.csv") if r["val_dice"]]
    assert len(logged) == 1
    assert float(logged[0]) == pytest.approx(val_dice, abs=1e-6)
    written = sorted(p.name for p in (exp / "seg_unet" / "predict" / "predictions").iterdir())
    assert written == [f"case_00{i}{s}" for i in (5, 6, 7) for s in (".nii.gz",
                                                                      "_overlay.png")]


# -- in this process: bad data, reproducibility, exact resume ---------------------------------

def _demo(root: Path, fmt: str = "nifti") -> Path:
    """``make-demo-data`` (phantom, 2/1/1 cases of [20, 20, 8]) as a user runs it."""
    assert seg_main(["make-demo-data", str(root), "--source", "phantom", "--format", fmt,
                     "--splits", "2", "1", "1", "--shape", "20", "20", "8"]) == 0
    return root


def _train(data: Path, exp: Path, *extra: str, config: str = "seg_unet") -> int:
    return main(["train", "--config-name", config, f"model.data_root={data}",
                 f"exp_manager.exp_dir={exp}", "exp_manager.create_tensorboard_logger=false",
                 "trainer.enable_progress_bar=false", *TINY["seg_unet"], *extra])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _nifti_label(data: Path, change) -> None:
    path = data / "train" / "labels" / "case_001.nii.gz"
    img = nib.load(path)
    nib.save(nib.Nifti1Image(change(np.asarray(img.dataobj)), img.affine), str(path))


def _nifti_image(data: Path, change, split: str = "train") -> None:
    path = data / split / "images" / ("case_001.nii.gz" if split == "train" else
                                      "case_002.nii.gz")
    img = nib.load(path)
    nib.save(nib.Nifti1Image(change(np.asarray(img.dataobj).copy()), img.affine), str(path))


def _h5_label(data: Path, change) -> None:
    with h5py.File(data / "train" / "case_001.h5", "r+") as f:
        label = change(f["segmentation"][()])
        del f["segmentation"]
        f["segmentation"] = label


def _nan_slice_5(image):
    image[3:5, 3:5, 5] = np.nan
    return image


#: (format, how case_001 (or the val case) is broken, the file named, what the line says)
BAD_DATA = {
    "truncated_h5": ("hdf5", lambda d: _truncate(d / "train" / "case_001.h5"),
                     "train/case_001.h5", "cannot be read as HDF5 (truncated or corrupt?): "
                     "Unable to synchronously open file (truncated file"),
    "truncated_nii_gz": ("nifti", lambda d: _truncate(d / "train" / "images" /
                                                      "case_001.nii.gz"),
                         "train/images/case_001.nii.gz", "cannot be read as NIfTI (truncated "
                         "or corrupt?): Compressed file ended before the end-of-stream marker"),
    "truncated_val_case": ("nifti", lambda d: _truncate(d / "val" / "labels" /
                                                        "case_002.nii.gz"),
                           "val/labels/case_002.nii.gz", "cannot be read as NIfTI"),
    "label_narrower_than_image": ("nifti", lambda d: _nifti_label(d, lambda a: a[:, :17]),
                                  "train/labels/case_001.nii.gz", "expected labels of shape "
                                  "[20, 20, 8] like the image; found [20, 17, 8]"),
    "slice_count_mismatch": ("hdf5", lambda d: _h5_label(d, lambda a: a[:7]),
                             "train/case_001.h5", "expected labels of shape [8, 20, 20] like "
                             "the image; found [7, 20, 20]"),
    "image_4d": ("nifti", lambda d: _nifti_image(d, lambda a: a[..., None]),
                 "train/images/case_001.nii.gz", "expected a 3D image [X, Y, Z] with every "
                 "size >= 1; found shape [20, 20, 8, 1]"),
    "float_label": ("hdf5", lambda d: _h5_label(d, lambda a: a.astype(np.float32) / 2),
                    "train/case_001.h5", "expected whole-number class indices"),
    "label_beyond_num_classes": ("nifti", lambda d: _nifti_label(d, lambda a: a + 2),
                                 "train/labels/case_001.nii.gz", "expected label values 0..3; "
                                 "found 2..5; hint: set model.num_classes"),
    "missing_label_file": ("nifti", lambda d: (d / "train" / "labels" /
                                               "case_001.nii.gz").unlink(),
                           "train/images/case_001.nii.gz", "expected a label file"),
    "nan_in_image": ("nifti", lambda d: _nifti_image(d, _nan_slice_5),
                     "train/images/case_001.nii.gz", "image slice 5 holds NaN/Inf (4 value(s) "
                     "in the case); hint: fix or remove the case, or set skip_bad_files"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_error_line_before_any_run_folder(case, tmp_path, capsys):
    fmt, breaks, named, says = BAD_DATA[case]
    data = _demo(tmp_path / "data", fmt)
    breaks(data)
    capsys.readouterr()
    assert _train(data, tmp_path / "exp", "trainer.max_epochs=1") == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]), err
    assert f"{data / named}: {says}" in errors[0], errors[0]
    assert "Traceback" not in err
    assert not (tmp_path / "exp").exists()  # nothing written: no run folder, no archive


def test_skip_bad_files_trains_on_the_good_cases(tmp_path, capsys):
    data = _demo(tmp_path / "data")
    _nifti_image(data, _nan_slice_5)
    (data / "val" / "labels" / "case_002.nii.gz").unlink()  # the only val case
    assert _train(data, tmp_path / "exp", "trainer.max_epochs=1",
                  "+model.train_ds.skip_bad_files=true",
                  "+model.validation_ds.skip_bad_files=true") == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"error: {data / 'val' / 'images'}: expected at least one valid case; found 1, none "
        "usable (skip_bad_files skipped them all; see the warnings)")
    assert not (tmp_path / "exp").exists()
    skipped = f"skip_bad_files: skipping {data / 'train' / 'images' / 'case_001.nii.gz'}: " \
        "image slice 5 holds NaN/Inf"
    with pytest.warns(UserWarning, match=re.escape(skipped)):
        assert _train(data, tmp_path / "exp", "trainer.max_epochs=1", "~model.validation_ds",
                      "+model.train_ds.skip_bad_files=true") == 0
    (csv_file,) = (tmp_path / "exp").glob("*/*/test_metrics_per_case.csv")
    assert {r["case"] for r in _csv_rows(csv_file)} == {"case_003"}


#: seg_demo_unet (augmentations, 2.5D input, flip TTA, no seed) shrunk to seconds
DEMO = ["model.channels=4", "model.num_pool_layers=2", "model.train_ds.batch_size=4",
        "model.train_ds.num_workers=1", "trainer.max_epochs=2", "trainer.log_every_n_steps=1"]


def test_the_same_command_twice_gives_identical_metrics(tmp_path):
    data = _demo(tmp_path / "data")
    for version in ("a", "b"):
        assert _train(data, tmp_path / "exp", *DEMO, f"+exp_manager.version={version}",
                      config="seg_demo_unet") == 0
    runs = tmp_path / "exp" / "seg_demo_unet"
    for table in ("test_metrics_per_case.csv", "csv/metrics.csv"):
        a, b = ((runs / v / table).read_text() for v in ("a", "b"))
        assert a == b and a.count("\n") > 3, table


def test_interrupted_mid_epoch_then_resumed_equals_uninterrupted(tmp_path, monkeypatch,
                                                                 capsys):
    """4 steps per epoch, 2 epochs; SIGINT during step 5 (epoch 1), then resume."""
    from atommic_seg.models.base import SegmentationModel

    data = _demo(tmp_path / "data")
    args = [*DEMO, "exp_manager.checkpoint_callback_params.save_top_k=1"]
    assert _train(data, tmp_path / "exp", *args, "+exp_manager.version=full",
                  config="seg_demo_unet") == 0
    step = SegmentationModel.training_step

    def interrupted_step(self, batch, batch_idx):
        if self.global_step == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, batch, batch_idx)

    with monkeypatch.context() as patch:
        patch.setattr(SegmentationModel, "training_step", interrupted_step)
        assert _train(data, tmp_path / "exp", *args, "+exp_manager.version=cut",
                      config="seg_demo_unet") == 130
    assert "to continue this run exactly where it stopped" in capsys.readouterr().err
    runs = tmp_path / "exp" / "seg_demo_unet"
    stopped = torch.load(runs / "cut" / "checkpoints" / "seg_demo_unet--interrupted.ckpt",
                         map_location="cpu", weights_only=False)
    assert stopped["global_step"] == 6  # the step running at the signal finished
    assert stopped["atommic_train_progress"] == {"epoch": 1, "batches_done": 2}
    assert _train(data, tmp_path / "exp", *args, "exp_manager.version=cut",
                  "exp_manager.resume_if_exists=true", config="seg_demo_unet") == 0
    full, cut = (torch.load(runs / v / "checkpoints" / "seg_demo_unet--last.ckpt",
                            map_location="cpu", weights_only=False) for v in ("full", "cut"))
    assert full["global_step"] == cut["global_step"] == 8
    difference = max(float((full["state_dict"][k] - cut["state_dict"][k]).abs().max())
                     for k in full["state_dict"])
    assert difference == 0.0
    assert (runs / "full" / "test_metrics_per_case.csv").read_text() == \
        (runs / "cut" / "test_metrics_per_case.csv").read_text()
