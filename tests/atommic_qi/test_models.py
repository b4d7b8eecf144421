"""QI models: training steps, save/restore, fit/validate/test/predict outputs, the
reconstruction module, config errors."""

import csv
import json

import h5py
import pytest
import pytorch_lightning as pl
import torch

from atommic_core.errors import ConfigError
from atommic_qi.models import QuantitativeModel, qCIRIM, qRIM, qVarNet, qZeroFilled
from atommic_qi.physics import echo_adjoint, get_signal_model, qmri_forward

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")

H = W = 16
TES = [3.0, 11.5, 20.0, 28.5]
RIM = {"num_cascades": 2, "time_steps": 2, "conv_filters": [4, 4, 4],
       "recurrent_filters": [4, 4, 0]}
TINY = {
    "qCIRIM": (qCIRIM, RIM),
    "qRIM": (qRIM, {**RIM, "recurrent_layer": "GRU", "memory_efficient": False}),
    "qVarNet": (qVarNet, {"num_cascades": 2, "channels": 4, "pooling_layers": 2}),
}


def _item(fname, slice_idx, seed, make_maps, make_coils):
    maps = make_maps(1, H, W, seed=seed).float()
    coils = make_coils(2, H, W)[None]
    mask = torch.zeros(1, 1, 1, H, W)
    mask[..., ::2, :] = 1
    mask[..., H // 2 - 2:H // 2 + 2, :] = 1
    y = qmri_forward(maps, TES, coils, mask)
    return {"masked_kspace": y[0], "sensitivity_maps": coils[0], "mask": mask[0],
            "initial_image": echo_adjoint(y, coils, mask)[0], "target":
            get_signal_model("gre").signal(maps, TES)[0].abs(), "qmaps_target": maps[0],
            "anatomy_mask": torch.ones(H, W), "TEs": torch.tensor(TES), "scale": 2.0,
            "acceleration": 2.0, "fname": fname, "slice_idx": slice_idx}


@pytest.fixture
def items(make_maps, make_coils):
    return [_item(f"vol{i % 2}.h5", i // 2, i, make_maps, make_coils) for i in range(4)]


@pytest.fixture
def synthetic_data(monkeypatch, items):
    monkeypatch.setattr(QuantitativeModel, "build_dataset", lambda self, cfg, split: items)


def _batch(items):
    return torch.utils.data.default_collate(items[:2])


def _cfg(extra, **kw):
    ds = {"batch_size": 2, "shuffle": False}
    return {**extra, "train_ds": ds, "validation_ds": ds, "test_ds": ds, "predict_ds": ds,
            "optim": {"name": "adam", "lr": 1e-3}, **kw}


@pytest.mark.parametrize("name", list(TINY))
def test_training_steps_reduce_the_loss_with_gradients(name, items):
    cls, cfg = TINY[name]
    torch.manual_seed(0)
    model = cls(cfg)
    batch = _batch(items)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        assert torch.isfinite(loss)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    out = model(**{k: batch[k] for k in ("masked_kspace", "sensitivity_maps", "mask",
                                         "initial_image", "TEs", "anatomy_mask")})
    assert out.shape == (2, 4, H, W) and out.dtype == torch.float32


def test_qzero_filled_is_the_fit_and_has_nothing_to_train(items):
    model = qZeroFilled({})
    batch = model._prepare(_batch(items))
    estimates, echoes = model.estimate(batch)
    assert len(estimates) == 1 and echoes is None
    from atommic_qi.fitting import fit_maps

    torch.testing.assert_close(estimates[0], fit_maps(batch["initial_image"], batch["TEs"],
                                                      batch["anatomy_mask"]))
    with pytest.raises(RuntimeError, match="no parameters"):
        model.training_step(batch, 0)
    assert qZeroFilled.requires_training is False and model.configure_optimizers() is None


def test_qcirim_starts_from_the_fit_with_zero_init(items):
    batch = _batch(items)
    zf = qZeroFilled({}).estimate(qZeroFilled({})._prepare(batch))[0][-1]
    model = qCIRIM({**RIM, "zero_init": True})
    estimates, _ = model.estimate(model._prepare(batch))
    assert len(estimates) == 4  # every time step of every cascade
    torch.testing.assert_close(estimates[-1], zf)


def test_save_restore_round_trip(tmp_path, items):
    cls, cfg = TINY["qCIRIM"]
    model = cls({**cfg, "signal_model": "atommic_megre"}).eval()
    path = model.save_to(str(tmp_path / "q.atommic"))
    restored = qCIRIM.restore_from(path, map_location="cpu").eval()
    assert restored.signal_model.name == "atommic_megre"
    batch = _batch(items)
    with torch.no_grad():
        torch.testing.assert_close(restored.estimate(restored._prepare(batch))[0][-1],
                                   model.estimate(model._prepare(batch))[0][-1])


def test_reconstruction_module_trains_jointly_and_round_trips(tmp_path, items):
    rec = {"model_name": "CIRIM", "num_cascades": 1, "time_steps": 2,
           "conv_filters": [4, 4, 2], "recurrent_filters": [4, 4, 0]}
    model = qCIRIM({**RIM, "use_reconstruction_module": True, "reconstruction_module": rec})
    assert type(model.reconstruction_module).__name__ == "CIRIM"
    batch = _batch(items)
    model.training_step(batch, 0).backward()
    rec_grads = [p.grad for p in model.reconstruction_module.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in rec_grads)
    restored = qCIRIM.restore_from(model.save_to(str(tmp_path / "r.atommic")))
    assert type(restored.reconstruction_module).__name__ == "CIRIM"
    assert "target" in restored.cfg.reconstruction_module
    with pytest.raises(ConfigError, match="reconstruction_module: expected a REC model config"):
        qCIRIM({**RIM, "use_reconstruction_module": True})


@pytest.mark.parametrize("cfg, message", [
    ({"signal_model": "t2"}, "model.signal_model: expected one of gre, atommic_megre"),
    ({"loss_weights": [1, 1]}, "model.loss weights: expected 4"),
    ({"map_ranges": {"B0": [1, 0]}}, "model.map_ranges.B0: expected"),
    ({"sigma": 0.0}, "model.sigma: expected > 0"),
])
def test_bad_config_values_are_config_errors(cfg, message):
    with pytest.raises(ConfigError, match=message):
        qCIRIM({**RIM, **cfg})


@pytest.mark.slow
def test_fit_validate_test_predict_outputs(tmp_path, synthetic_data, capsys):
    from pytorch_lightning.loggers import TensorBoardLogger

    cls, cfg = TINY["qCIRIM"]
    model = cls(_cfg(cfg, log_images=1))
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", enable_checkpointing=False,
                         logger=TensorBoardLogger(str(tmp_path), name="tb"),
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0)
    trainer.fit(model)
    for key in ("val_ssim", "val_R2star_ssim", "val_B0_mae", "val_phi_nmse", "val_loss"):
        assert key in trainer.callback_metrics
    model.output_dir = str(tmp_path / "test_out")
    trainer.test(model)
    rows = list(csv.DictReader(open(tmp_path / "test_out" / "metrics.csv")))
    assert [r["fname"] for r in rows] == ["vol0.h5", "vol1.h5", "MEAN"]
    assert {r["convention"] for r in rows} == {"qmri"}
    assert 0 < float(rows[-1]["S0_ssim"]) <= 1 and float(rows[-1]["R2star_mae"]) >= 0
    assert "qCIRIM test metrics (qmri convention:" in capsys.readouterr().out
    assert (tmp_path / "test_out" / "previews" / "vol0_B0.png").is_file()

    outputs = trainer.predict(model)
    written = model.write_predictions(outputs, str(tmp_path))
    assert {p.rsplit("/", 1)[-1] for p in written} >= {"vol0.h5", "vol0_R2star.nii.gz",
                                                       "vol1_phi.png"}
    with h5py.File(tmp_path / "vol0.h5") as f:
        assert f["qmaps"].shape == (2, 4, H, W)
        assert json.loads(f.attrs["units"])["B0"] == "Hz"
        assert f["B0_map"].attrs["unit"] == "Hz"
        s0 = f["S0_map"][()]
    # S0 back in file units: the batch scale (2.0) multiplies the normalised estimate
    batch = torch.utils.data.default_collate([i for i in model.build_dataset(None, "predict")
                                              if i["fname"] == "vol0.h5"])
    with torch.no_grad():
        normalised = model.estimate(model._prepare(batch))[0][-1][:, 1]
    torch.testing.assert_close(torch.from_numpy(s0), 2.0 * normalised, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_frozen_reconstruction_module_through_the_cores_freeze_updates(synthetic_data):
    rec = {"model_name": "CIRIM", "num_cascades": 1, "time_steps": 2,
           "conv_filters": [4, 4, 2], "recurrent_filters": [4, 4, 0]}
    model = qCIRIM(_cfg({**RIM, "use_reconstruction_module": True, "reconstruction_module": rec,
                         "freeze_updates": {"enabled": True,
                                            "modules": {"reconstruction_module": -1}}}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", enable_checkpointing=False,
                         logger=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(model)
    after = model.state_dict()
    frozen = [k for k in before if k.startswith("reconstruction_module.")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("net."))


@pytest.mark.parametrize("name", ["qCIRIM", "qVarNet"])
def test_bf16_autocast_keeps_the_physics_in_float32(name, items):
    cls, cfg = TINY[name]
    model = cls(cfg)
    batch = _batch(items)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_step(batch, 0)
        maps = model.estimate(model._prepare(batch))[0][-1]
    assert torch.isfinite(loss) and maps.dtype == torch.float32


def test_float64_model_runs_in_double(items):
    cls, cfg = TINY["qCIRIM"]
    model = cls(cfg).double()
    maps = model.estimate(model._prepare(_batch(items)))[0][-1]
    assert maps.dtype == torch.float64
