"""The bad-input catalogue: what a new user gets wrong, through the real CLI, in-process.

Each case asserts the one ``error:`` line (what was wrong and the hint), exit code 2, no
traceback, no new run folder, and that the files of an earlier run were not touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from atommic_core.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REC_TINY = ["model.num_cascades=2", "model.channels=4", "model.pooling_layers=2",
            "trainer.max_epochs=1", "exp_manager.create_tensorboard_logger=false"]
SEG_TINY = ["model.channels=4", "model.num_pool_layers=2", "trainer.max_epochs=1",
            "exp_manager.create_tensorboard_logger=false"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Tiny REC (phantom, 32x32) and SEG (phantom 20x20x8) demo data, a SEG archive, notes."""
    from atommic_rec.data.demo_data import make_demo_data as make_rec
    from atommic_seg.data.demo import make_demo_data as make_seg
    from atommic_seg.models import MODELS

    root = tmp_path_factory.mktemp("catalogue")
    make_rec(root / "rec", coils=2, size=32, volumes=(1, 1, 1), slices=2, seed=0,
             source="phantom")
    make_seg(root / "seg", splits=(2, 1, 1), source="phantom", shape=(20, 20, 8), seed=0)
    seg = MODELS["SegmentationUNet"]({"num_classes": 4, "channels": 4, "num_pool_layers": 2})
    seg.save_to(root / "seg_model.atommic")
    (root / "notes.txt").write_text("not a model\n")
    return root


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _rec_file(tmp: Path, data: Path, edit: Callable[[h5py.File], None]) -> Path:
    root = _copy(data / "rec", tmp / "rec")
    with h5py.File(root / "train" / "demo_train_000.h5", "r+") as f:
        edit(f)
    return root


def _replace(name: str, value: np.ndarray) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = value
    return edit


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _seg_edit(tmp: Path, data: Path, edit: Callable[[Path], None]) -> Path:
    root = _copy(data / "seg", tmp / "seg")
    edit(root)
    return root


def _seg_label(root: Path) -> Path:
    return sorted((root / "train" / "labels").glob("*.nii.gz"))[0]


def _seg_narrow_label(root: Path) -> None:
    import nibabel as nib

    path = _seg_label(root)
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:, :17], img.affine), path)


def _rec(tmp, data, *extra, command="train", root=None):
    return [command, "--config-name", "rec_varnet", f"model.data_root={root or data / 'rec'}",
            *REC_TINY, *extra]


def _seg(tmp, data, *extra, command="train", root=None):
    root = root or data / "seg"
    return [command, "--config-name", "seg_unet", *SEG_TINY,
            *[f"model.{s}_ds.data_path={root / d}" for s, d in (
                ("train", "train"), ("validation", "val"), ("test", "test"))], *extra]


# (id, args(tmp, data) -> argv without exp_dir, fragments of the one error line)
CASES = [
    ("config_name_typo", lambda t, d: ["train", "--config-name", "rec_varnett"],
     ["config 'rec_varnett.yaml' not found", "list configs"]),
    ("model_name_typo", lambda t, d: _rec(t, d, "model.model_name=VarNett"),
     ["Unknown model 'VarNett'.", "Did you mean 'VarNet'"]),
    ("trainer_key_typo", lambda t, d: _rec(t, d, "trainer.max_epoch=3"),
     ["unknown key trainer.max_epoch.", "Did you mean 'max_epochs'?"]),
    ("fp16_on_cpu", lambda t, d: _rec(t, d, "+trainer.precision=16-mixed"),
     ["trainer.precision=16-mixed cannot run on the CPU"]),
    ("negative_lr", lambda t, d: _rec(t, d, "model.optim.lr=-1e-3"),
     ["model.optim: Invalid learning rate: -0.001"]),
    ("optimizer_typo", lambda t, d: _rec(t, d, "model.optim.name=adamm"),
     ["Unknown optimizer 'adamm'."]),
    ("warmup_ratio_above_one", lambda t, d: _rec(t, d, "+model.optim.sched.warmup_ratio=1.5"),
     ["expected 0 <= warmup_ratio <= 1; found 1.5"]),
    ("exp_manager_key_typo", lambda t, d: _rec(t, d, "+exp_manager.resume_if_exist=true"),
     ["unknown key exp_manager.resume_if_exist."]),
    ("data_root_missing", lambda t, d: _rec(t, d, root=t / "nowhere"),
     ["does not exist"]),
    ("empty_data_folder", lambda t, d: _rec(t, d, root=_make_empty_rec(t)),
     ["expected at least one valid .h5 file"]),
    ("truncated_rec_file", lambda t, d: _rec(t, d, root=_truncated_rec(t, d)),
     ["demo_train_000.h5", "cannot be read as HDF5"]),
    ("kspace_not_complex", lambda t, d: _rec(t, d, root=_rec_file(
        t, d, _replace("kspace", np.zeros((2, 2, 32, 32), np.float32)))),
     ["expected 'kspace' complex [slices, coils, H, W]", "found float32"]),
    ("maps_shape_mismatch", lambda t, d: _rec(t, d, root=_rec_file(
        t, d, _replace("sensitivity_map", np.zeros((2, 2, 32, 30), np.complex64)))),
     ["expected 'sensitivity_map' of shape (2, 2, 32, 32) like k-space"]),
    ("target_shape_mismatch", lambda t, d: _rec(t, d, root=_rec_file(
        t, d, _replace("reconstruction_sense", np.zeros((3, 32, 32), np.float32)))),
     ["expected 'reconstruction_sense' of shape [2, H, W]"]),
    ("mask_type_typo", lambda t, d: _rec(t, d, "model.train_ds.mask_args.type=random1dd"),
     ["random1dd"]),
    ("crop_larger_than_data", lambda t, d: _rec(t, d, "+model.train_ds.crop_size=[64,64]"),
     ["train data:", "crop: expected size [64, 64] smaller than or equal"]),
    ("split_contradicts_model_fft", lambda t, d: _rec(t, d, "+model.test_ds.fft_centered=false"),
     ["contradicts model.fft_centered"]),
    ("convention_typo", lambda t, d: _rec(t, d, "+model.evaluation_convention=fastmrii",
                                          "model.model_name=ZeroFilled", command="test"),
     ["evaluation_convention"]),
    ("test_untrained_model", lambda t, d: _rec(t, d, command="test"),
     ["model.restore_path", "needs"]),
    ("restore_path_text", lambda t, d: _rec(t, d, f"model.restore_path={d / 'notes.txt'}",
                                            command="test"),
     ["is text, not a .atommic archive or a Lightning checkpoint"]),
    ("restore_path_data_file", lambda t, d: _rec(
        t, d, f"model.restore_path={d / 'rec' / 'test' / 'demo_test_000.h5'}", command="test"),
     ["is HDF5 data, not a .atommic archive"]),
    ("restore_other_collection", lambda t, d: _rec(
        t, d, f"model.restore_path={d / 'seg_model.atommic'}", command="predict"),
     ["holds a SegmentationUNet", "which is not a VarNet"]),
    ("seg_truncated_nifti", lambda t, d: _seg(t, d, root=_seg_edit(
        t, d, lambda r: _truncate(_seg_label(r)))),
     [".nii.gz"]),
    ("seg_label_shape", lambda t, d: _seg(t, d, root=_seg_edit(t, d, _seg_narrow_label)),
     ["expected labels of shape [20, 20, 8] like the image; found [20, 17, 8]"]),
    ("seg_class_names_length", lambda t, d: _seg(t, d, "model.class_names=[a,b]"),
     ["class_names has 2 names for num_classes=4"]),
    ("seg_too_few_classes", lambda t, d: _seg(t, d, "model.num_classes=2",
                                              "model.class_names=[a,b]"),
     ["model.num_classes"]),
    ("seg_config_on_rec_archive", lambda t, d: _seg(
        t, d, f"model.restore_path={d / 'notes.txt'}", command="test"),
     ["is text, not a .atommic archive"]),
]


def _make_empty_rec(tmp: Path) -> Path:
    for split in ("train", "val", "test"):
        (tmp / "empty" / split).mkdir(parents=True)
    return tmp / "empty"


def _truncated_rec(tmp: Path, data: Path) -> Path:
    root = _copy(data / "rec", tmp / "rec")
    _truncate(root / "train" / "demo_train_000.h5")
    return root


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("args", "fragments"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_touches_nothing(data, tmp_path, capsys, args, fragments):
    exps = tmp_path / "exps"
    earlier = exps / "earlier_run" / "v0"  # a previous run's files must stay as they were
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("seed: 1\n")
    (earlier / "model.atommic").write_bytes(b"weights")
    before = _snapshot(exps)
    argv = [*args(tmp_path, data), f"exp_manager.exp_dir={exps}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and err[-1] == errors[0], err
    assert "Traceback" not in "\n".join(err)
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert _snapshot(exps) == before  # no new run folder, nothing overwritten
