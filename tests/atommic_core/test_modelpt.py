"""ModelPT life cycle: save_to / restore_from round trips, configs, devices, checkpoints."""

from __future__ import annotations

import os
import tarfile

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from atommic_core import ArchiveError, MissingDistributionError, ModelPT
from atommic_core.testing import BoringModel


def _model(**cfg) -> BoringModel:
    torch.manual_seed(0)
    return BoringModel({"in_features": 4, "hidden": 6, **cfg})


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k].to(sa[k].device)) for k in sa)


def test_round_trip_gives_identical_outputs(tmp_path):
    model = _model()
    path = model.save_to(tmp_path / "m.atommic")
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert set(names) == {"manifest.json", "model_config.yaml", "model_weights.ckpt",
                          "model_card.md"}
    restored = BoringModel.restore_from(path)
    assert type(restored) is BoringModel
    x = torch.randn(5, 4)
    assert torch.equal(model(x), restored(x))
    assert restored.cfg.hidden == 6


def test_base_class_restores_the_subclass_named_by_target(tmp_path):
    model = _model()
    path = model.save_to(tmp_path / "m.atommic")
    restored = ModelPT.restore_from(path)
    assert type(restored) is BoringModel
    assert _same_weights(model, restored)
    cfg = ModelPT.restore_from(path, return_config=True)
    assert cfg.target == "atommic_core.testing.BoringModel"


def test_saving_twice_gives_identical_archives(tmp_path):
    model = _model()
    a = model.save_to(tmp_path / "a.atommic")
    b = model.save_to(tmp_path / "b.atommic")
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read()


def test_return_config_reads_neither_weights_nor_builds(tmp_path, monkeypatch):
    path = _model().save_to(tmp_path / "m.atommic")

    def boom(*args, **kwargs):
        raise AssertionError("weights were read")

    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(BoringModel, "__init__", boom)
    cfg = BoringModel.restore_from(path, return_config=True)
    assert isinstance(cfg, DictConfig)
    assert cfg.hidden == 6 and cfg.in_features == 4


@pytest.mark.parametrize("as_yaml", [False, True])
def test_override_config(tmp_path, as_yaml):
    model = _model(note="old")
    path = model.save_to(tmp_path / "m.atommic")
    cfg = BoringModel.restore_from(path, return_config=True)
    cfg.note = "new"
    override = cfg
    if as_yaml:
        override = str(tmp_path / "override.yaml")
        OmegaConf.save(cfg, override)
    restored = BoringModel.restore_from(path, override_config_path=override)
    assert restored.cfg.note == "new"
    assert _same_weights(model, restored)


def test_strict_false_loads_all_but_a_changed_head(tmp_path):
    model = _model()
    path = model.save_to(tmp_path / "m.atommic")
    cfg = BoringModel.restore_from(path, return_config=True)
    cfg.out_features = 2  # a new task: same encoder, a bigger head

    with pytest.raises(ArchiveError, match=r"head\.bias \[1\] vs \[2\].*strict=False"):
        BoringModel.restore_from(path, override_config_path=cfg)
    with pytest.warns(UserWarning, match=r"skipped weights: 2 of another shape \(head.weight"):
        restored = BoringModel.restore_from(path, override_config_path=cfg, strict=False)
    assert torch.equal(restored.encoder[0].weight, model.encoder[0].weight)
    assert restored.head.weight.shape == (2, 6)


def test_map_location(tmp_path):
    model = _model()
    path = model.save_to(tmp_path / "m.atommic")
    on_cpu = BoringModel.restore_from(path, map_location=torch.device("cpu"))
    assert {p.device.type for p in on_cpu.parameters()} == {"cpu"}
    on_meta = BoringModel.restore_from(path, map_location="meta")
    assert {p.device.type for p in on_meta.parameters()} == {"meta"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_map_location_cuda(tmp_path):
    model = _model()
    path = model.save_to(tmp_path / "m.atommic")
    on_gpu = BoringModel.restore_from(path, map_location="cuda")
    assert {p.device.type for p in on_gpu.parameters()} == {"cuda"}
    assert _same_weights(model, on_gpu)
    x = torch.randn(3, 4)
    assert torch.allclose(model(x), on_gpu(x.cuda()).cpu(), atol=1e-6)
    # saved from the GPU, restored on the CPU by default
    back = BoringModel.restore_from(on_gpu.save_to(tmp_path / "g.atommic"))
    assert {p.device.type for p in back.parameters()} == {"cpu"}
    assert _same_weights(model, back)


class Unrelated(ModelPT):
    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.layer = torch.nn.Linear(2, 2)


def test_subclass_refuses_an_unrelated_archive(tmp_path):
    path = _model().save_to(tmp_path / "m.atommic")
    with pytest.raises(ArchiveError, match=r"holds a BoringModel .* not a Unrelated"):
        Unrelated.restore_from(path)


def test_missing_distribution_says_pip_install(tmp_path, monkeypatch):
    from atommic_core.model import _manifest

    real = _manifest.build_manifest

    def fake(model, name, version):
        manifest = real(model, name, version)
        manifest["distributions"]["atommic-nonexistent-xyz"] = "9.9.9"
        return manifest

    monkeypatch.setattr(_manifest, "build_manifest", fake)
    from atommic_core.model import _save_restore

    monkeypatch.setattr(_save_restore, "build_manifest", fake)
    path = _model().save_to(tmp_path / "m.atommic")
    with pytest.raises(MissingDistributionError, match="pip install atommic-nonexistent-xyz"):
        ModelPT.restore_from(path)


def test_manifest_names_used_distributions(tmp_path):
    import json

    path = _model().save_to(tmp_path / "m.atommic")
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["format_version"] == 2  # 2: with model_card.md
    assert manifest["atommic_core_version"] == __import__("atommic_core").__version__
    assert manifest["distributions"]["atommic-core"] == manifest["atommic_core_version"]
    assert "torch" in manifest["distributions"]
    assert set(manifest["files"]) == {"model_config.yaml", "model_weights.ckpt",
                                      "model_card.md"}


def test_restore_builds_no_data_loaders(tmp_path, monkeypatch):
    calls = []
    model = _model(train_ds={"data_path": str(tmp_path / "nowhere" / "train.h5"),
                             "batch_size": 2})
    path = model.save_to(tmp_path / "m.atommic")
    monkeypatch.setattr(BoringModel, "build_dataset", lambda self, cfg, split: calls.append(1))
    real_exists = os.path.exists

    def watch_exists(p):
        assert "nowhere" not in str(p), "restore touched a data path"
        return real_exists(p)

    monkeypatch.setattr(os.path, "exists", watch_exists)
    restored = ModelPT.restore_from(path)
    assert calls == []
    assert all(loader is None for loader in restored._loaders.values())


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    model = _model()
    dest = tmp_path / "m.atommic"
    model.save_to(dest)
    before = dest.read_bytes()
    from atommic_core.model import _archive

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_archive, "_tarinfo", fail)
    with torch.no_grad():
        model.head.weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        model.save_to(dest)
    assert dest.read_bytes() == before  # the old archive is untouched
    assert sorted(os.listdir(tmp_path)) == ["m.atommic"]  # no temporary left behind


def test_save_to_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ArchiveError, match="does not exist; create it first"):
        _model().save_to(tmp_path / "no" / "m.atommic")


def test_load_from_checkpoint_rebuilds_an_artifact_free_model(tmp_path):
    model = _model(train_ds={"num_samples": 8, "batch_size": 4}, optim={"name": "sgd",
                                                                        "lr": 0.1})
    trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(model)
    model.cfg.note = "set after __init__"  # the checkpoint stores the current config
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = BoringModel.load_from_checkpoint(ckpt)
    assert loaded.cfg.hidden == 6
    assert loaded.cfg.note == "set after __init__"
    assert _same_weights(model, loaded)


def test_from_config_dict_uses_target():
    cfg = _model().archive_config()
    built = ModelPT.from_config_dict(cfg)
    assert type(built) is BoringModel
    with pytest.raises(Exception, match="no 'target'"):
        ModelPT.from_config_dict({"hidden": 2})


class WithExtraState(BoringModel):
    """A non-persistent buffer filled by torch.nn.init: not in the archive, must be rebuilt."""

    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.register_buffer("scale", torch.empty(3), persistent=False)
        torch.nn.init.constant_(self.scale, 3.0)


def test_restore_skips_random_init_but_keeps_other_inits(tmp_path):
    model = WithExtraState({"hidden": 6})
    path = model.save_to(tmp_path / "m.atommic")
    torch.manual_seed(123)
    expected_next = torch.rand(4)
    torch.manual_seed(123)
    restored = WithExtraState.restore_from(path)
    # the random init of overwritten weights is skipped: the global RNG is untouched
    assert torch.equal(torch.rand(4), expected_next)
    assert torch.equal(restored.scale, torch.full((3,), 3.0))
    assert _same_weights(model, restored)


def test_strict_false_initialises_new_weights(tmp_path):
    path = _model().save_to(tmp_path / "m.atommic")
    cfg = BoringModel.restore_from(path, return_config=True)
    cfg.out_features = 3
    with pytest.warns(UserWarning, match="skipped weights"):
        restored = BoringModel.restore_from(path, override_config_path=cfg, strict=False)
    bound = 1 / 6 ** 0.5  # nn.Linear's default init range for 6 inputs
    weight = restored.head.weight
    assert torch.isfinite(weight).all() and weight.abs().max() <= bound
    assert weight.std() > 0


def test_config_interpolations_resolve_when_possible(tmp_path):
    full = OmegaConf.create({"trainer": {"steps": 7}, "model": {"hidden": 6,
                                                               "steps": "${trainer.steps}"}})
    path = BoringModel(full.model).save_to(tmp_path / "m.atommic")
    assert BoringModel.restore_from(path, return_config=True).steps == 7
    # a model section on its own with a dangling interpolation still builds
    alone = BoringModel({"hidden": 6, "steps": "${trainer.steps}"})
    assert alone.hparams["cfg"]["steps"] == "${trainer.steps}"


def test_restore_passes_the_trainer(tmp_path):
    path = _model().save_to(tmp_path / "m.atommic")
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu",
                         default_root_dir=tmp_path)
    assert ModelPT.restore_from(path, trainer=trainer)._external_trainer is trainer
