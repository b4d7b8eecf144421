"""SEG through the real CLI in an environment with only atommic-core + atommic-seg.

For a tiny UNet (2D) and a tiny UNet3D: generate phantom demo data, train a few steps (the
``.atommic`` archive is written at the end), test and predict from that archive, then restore it
in-process and check it reproduces the predicted label map.
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

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
