"""SEG through the real CLI in an environment with only atommic-core + atommic-seg.

For a tiny UNet (2D) and a tiny UNet3D: generate phantom demo data, train a few steps (the
``.atommic`` archive is written at the end), test and predict from that archive, then restore it
in-process and check it reproduces the predicted label map.
"""

from __future__ import annotations

import csv
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
from atommic_seg.data import SegmentationDataset
from atommic_seg.models import MODELS

def check(name, archive, predicted):
    model = MODELS[name].restore_from(archive, map_location="cpu").eval()
    ds = SegmentationDataset({test_dir!r}, dimensionality=model.dimensionality, num_classes=4)
    with torch.no_grad():
        if model.dimensionality == 2:
            labels = np.stack([model(ds[i]["image"][None]).argmax(1)[0].numpy()
                               for i in range(len(ds))])
        else:
            labels = model(ds[0]["image"][None]).argmax(1)[0].numpy()
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
    restore = [f"+model.restore_path={archive}"]
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
