"""The six models: registered, train a few steps, save/restore, config errors, shipped configs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import default_collate

from atommic_core import registry
from atommic_core.errors import ConfigError
from atommic_mtl.models import MODELS

NAMES = ["IDSLR", "IDSLRUNet", "MTLRS", "RecSegUNet", "SegNet", "SERANet"]
CONFIGS = sorted(p.stem for p in (Path(__import__("atommic_mtl").__file__).parent /
                                  "configs").glob("*.yaml"))


def test_all_six_are_registered_plugin_models():
    for name in NAMES:
        entry = registry.models.entry(name)
        assert entry.obj is MODELS[name] and entry.distribution == "atommic-mtl"


def _batch(model, split="validation"):
    dataset = model.build_dataset(model.cfg.validation_ds, split)
    return default_collate([dataset[i] for i in range(2)])


@pytest.mark.parametrize("name", NAMES)
def test_trains_a_few_steps_on_demo_data_and_restores(name, tiny_config, tmp_path):
    torch.manual_seed(0)
    model = MODELS[name](tiny_config(name))
    before = copy.deepcopy(model.state_dict())
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=1)
    trainer.fit(model)
    assert trainer.global_step == 3
    changed = [k for k, v in model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "no parameter moved"
    metrics = trainer.callback_metrics
    for key in ("val_ssim", "val_psnr", "val_dice", "val_reconstruction_loss",
                "val_segmentation_loss"):
        assert torch.isfinite(metrics[key]), key

    path = model.save_to(tmp_path / f"{name}.atommic")
    restored = MODELS[name].restore_from(path, map_location="cpu").eval()
    model.eval()
    batch = _batch(model)
    with torch.no_grad():
        a = model.forward(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"],
                          batch["initial_image"])
        b = restored.forward(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"],
                             batch["initial_image"])
    assert a[0].shape == (2, 32, 32) and a[1].shape == (2, 4, 32, 32)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


@pytest.mark.parametrize(("extra", "message"), [
    ({"class_names": ["a", "b"]}, r"expected 4 names \(num_classes\); found 2"),
    ({"label_mode": "binary"}, "expected multiclass or multilabel"),
    ({"evaluation_convention": "nyu"}, "evaluation_convention: expected one of"),
    ({"total_reconstruction_loss_weight": 0.0, "total_segmentation_loss_weight": 0.0},
     "not both 0"),
    ({"segmentation_intermediate_loss_weighting": "mean"}, "expected last, uniform or logspace"),
])
def test_config_errors_are_one_line(extra, message, tiny_config):
    with pytest.raises(ConfigError, match=message):
        MODELS["RecSegUNet"](tiny_config("RecSegUNet", **extra))


def test_coil_models_need_num_coils(tiny_config):
    cfg = tiny_config("SegNet")
    del cfg["num_coils"]
    with pytest.raises(ConfigError, match=r"expected model.num_coils"):
        MODELS["SegNet"](cfg)


def test_multilabel_model_predicts_channels(tiny_config):
    model = MODELS["RecSegUNet"](tiny_config("RecSegUNet", label_mode="multilabel")).eval()
    batch = model.prepare(_batch(model))
    with torch.no_grad():
        loss = model.training_step(batch, 0)
        labels = model.to_labels(model.run(batch).segmentations[-1])
    assert torch.isfinite(loss) and labels.shape == (2, 4, 32, 32)
    assert batch["segmentation"].shape == (2, 4, 32, 32)


@pytest.mark.parametrize("config", CONFIGS)
def test_shipped_configs_compose_and_build(config):
    from atommic_core.cli.config import compose_config, resolve_model_class

    cfg = compose_config(None, config, ["model.data_root=/data"])
    model = resolve_model_class(cfg)(cfg.model)
    assert model.num_classes == 4 and model.cfg.train_ds.data_path == "/data/train"
    assert model.cfg.train_ds.mask_args.type == "poisson2d"
    assert type(model).__doc__ and "20" in type(model).__doc__  # the paper (year) is cited
    assert dict(model.cfg.train_ds.augmentations)["global_phase"]
    # phase equivariance reaches the reused REC networks where the config turns it on
    flags = [m.phase_equivariant for m in model.modules() if hasattr(m, "phase_equivariant")]
    assert bool(flags) and all(flags) if model.cfg.get("phase_equivariant") else not any(flags)


def test_six_configs_are_shipped():
    assert CONFIGS == [
        "mtl_idslr", "mtl_idslr_unet", "mtl_mtlrs", "mtl_recseg_unet", "mtl_segnet",
        "mtl_seranet"]
