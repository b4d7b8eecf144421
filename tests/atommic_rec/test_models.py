import csv
import os

import h5py
import pytest
import pytorch_lightning as pl
import torch

from atommic_rec.models import CIRIM, RIM, ReconstructionModel, UNet, VarNet, ZeroFilled
from atommic_rec.physics import adjoint_operator, forward_operator, rss_complex

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")

H = W = 16
COILS = 2
TINY = {
    "VarNet": (VarNet, {"num_cascades": 2, "channels": 4, "pooling_layers": 2}),
    "UNet": (UNet, {"channels": 4, "pooling_layers": 2}),
    "CIRIM": (CIRIM, {"num_cascades": 2, "time_steps": 2, "conv_filters": [4, 4, 2],
                      "recurrent_filters": [4, 4, 0]}),
    "RIM": (RIM, {"time_steps": 2, "conv_filters": [4, 4, 2], "recurrent_filters": [4, 4, 0],
                  "recurrent_layer": "GRU", "memory_efficient": False}),
}


def _item(fname, slice_idx, seed):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    x = ((xx**2 + yy**2) < 0.5).float() * (1 + 0.3 * torch.rand(H, W, generator=g))
    x = x.to(torch.complex64)
    s = torch.complex(torch.randn(COILS, H, W, generator=g), torch.randn(COILS, H, W, generator=g))
    s = s / rss_complex(s, dim=0)
    mask = torch.zeros(1, 1, W)
    mask[..., ::2] = 1
    mask[..., W // 2 - 2: W // 2 + 2] = 1
    y = forward_operator(x[None], s[None], mask[None])[0]
    return {"masked_kspace": y, "sensitivity_maps": s, "mask": mask,
            "initial_image": adjoint_operator(y[None], s[None], mask[None])[0],
            "target": x.abs(), "max_value": float(x.abs().max()), "scale": 2.0,
            "acceleration": 2.0, "fname": fname, "slice_idx": slice_idx}


def _items(n=4):
    return [_item(f"vol{i % 2}.h5", i // 2, seed=i) for i in range(n)]


def _batch(n=2):
    return torch.utils.data.default_collate(_items(n))


@pytest.fixture
def synthetic_data(monkeypatch):
    monkeypatch.setattr(ReconstructionModel, "build_dataset", lambda self, cfg, split: _items())


def _cfg(extra, **kw):
    ds = {"batch_size": 2, "shuffle": False}
    return {**extra, "train_ds": ds, "validation_ds": ds, "test_ds": ds, "predict_ds": ds,
            "optim": {"name": "adam", "lr": 1e-3}, **kw}


@pytest.mark.parametrize("name", list(TINY))
def test_training_step_gives_finite_loss_with_gradients(name):
    cls, cfg = TINY[name]
    model = cls(cfg)
    loss = model.training_step(_batch(), 0)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    out = model(**{k: _batch()[k] for k in ("masked_kspace", "sensitivity_maps", "mask",
                                             "initial_image")})
    assert out.shape == (2, H, W) and out.dtype == torch.complex64


def test_zero_filled_sense_and_rss():
    b = _batch()
    sense = ZeroFilled({}).reconstruct(b)[-1]
    assert torch.allclose(sense, b["initial_image"], atol=1e-5)
    rss = ZeroFilled({"coil_combination_method": "rss"}).reconstruct(b)[-1]
    from atommic_rec.physics import ifft2
    assert torch.allclose(rss.real, rss_complex(ifft2(b["masked_kspace"]), dim=1), atol=1e-5)
    with pytest.raises(RuntimeError, match="no parameters"):
        ZeroFilled({}).training_step(b, 0)
    with pytest.raises(ValueError, match="SENSE or RSS"):
        ZeroFilled({"coil_combination_method": "GRAPPA"})


def test_iterative_models_weight_intermediate_outputs():
    cls, cfg = TINY["CIRIM"]
    torch.manual_seed(0)
    last = cls({**cfg, "intermediate_loss_weighting": "last"})
    torch.manual_seed(0)
    spread = cls({**cfg, "intermediate_loss_weighting": "uniform"})
    b = _batch()
    final_only = last.loss_fn(last.reconstruct(last._prepare(b))[-1].abs(), b["target"])
    assert last.training_step(b, 0).item() == pytest.approx(final_only.item(), rel=1e-5)
    assert spread.training_step(b, 0).item() != pytest.approx(final_only.item(), rel=1e-3)


@pytest.mark.parametrize("name", ["CIRIM", "RIM"])
def test_rim_models_reject_a_non_positive_sigma(name):
    cls, cfg = TINY[name]
    with pytest.raises(ValueError, match="sigma > 0"):
        cls({**cfg, "sigma": 0.0})


def test_bf16_autocast_keeps_fft_in_complex64():
    cls, cfg = TINY["VarNet"]
    model = cls(cfg)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_step(_batch(), 0)
        out = model.reconstruct(model._prepare(_batch()))[-1]
    assert torch.isfinite(loss) and out.dtype == torch.complex64


def test_float64_model_casts_complex_batches():
    cls, cfg = TINY["CIRIM"]
    model = cls(cfg).double()
    out = model.reconstruct(model._prepare(_batch()))[-1]
    assert out.dtype == torch.complex128


@pytest.mark.slow
def test_fit_validate_test_predict_outputs(tmp_path, synthetic_data, capsys):
    from pytorch_lightning.loggers import TensorBoardLogger

    cls, cfg = TINY["VarNet"]
    model = cls(_cfg(cfg, log_images=1))
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", enable_checkpointing=False,
                         logger=TensorBoardLogger(str(tmp_path), name="tb"),
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, check_val_every_n_epoch=1)
    trainer.fit(model)
    for key in ("val_ssim", "val_psnr", "val_nmse", "val_loss"):
        assert key in trainer.callback_metrics
    events = [f for r, _, fs in os.walk(tmp_path / "tb") for f in fs if "tfevents" in f]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(next((tmp_path / "tb").rglob(events[0])).parent))
    acc.Reload()
    assert any(tag.startswith("val_panels/") for tag in acc.Tags()["images"])

    model.output_dir = str(tmp_path / "test_out")
    trainer.test(model)
    rows = list(csv.DictReader(open(tmp_path / "test_out" / "metrics.csv")))
    assert [r["fname"] for r in rows] == ["vol0.h5", "vol1.h5", "MEAN"]
    assert 0 < float(rows[-1]["ssim"]) <= 1
    assert "test metrics" in capsys.readouterr().out
    assert (tmp_path / "test_out" / "previews" / "vol0.png").is_file()

    outputs = trainer.predict(model)
    paths = model.write_predictions(outputs, str(tmp_path))
    with h5py.File(tmp_path / "vol1.h5") as f:
        rec = f["reconstruction"][()]
    assert rec.shape == (2, H, W)  # [slices, H, W], fastMRI submission layout
    ref = model.reconstruct(model._prepare(_batch(4)))[-1].abs()[[1, 3]] * 2.0  # scale = 2
    assert torch.allclose(torch.from_numpy(rec), ref.detach(), atol=1e-4)
    assert any(p.endswith(".png") for p in paths)


@pytest.mark.parametrize("precision", ["bf16-mixed", "64-true"])
def test_trainer_precisions_keep_complex_physics(precision, synthetic_data):
    cls, cfg = TINY["CIRIM"]
    model = cls(_cfg(cfg))
    seen = []
    original = model.reconstruct

    def spy(batch):
        out = original(batch)
        seen.append(out[-1].dtype)
        return out

    model.reconstruct = spy
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", precision=precision, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model)
    assert trainer.global_step == 1
    want = torch.complex128 if precision == "64-true" else torch.complex64
    assert seen and all(d == want for d in seen)


@pytest.mark.slow
def test_compile_option_keeps_weights_keys_and_results():
    cls, cfg = TINY["UNet"]
    torch.manual_seed(0)
    eager = cls({**cfg, "pooling_layers": 1})
    compiled = cls({**cfg, "pooling_layers": 1, "compile": True})
    assert list(compiled.state_dict()) == list(eager.state_dict())
    compiled.load_state_dict(eager.state_dict())
    b = eager._prepare(_batch())
    with torch.no_grad():
        assert torch.allclose(compiled.reconstruct(b)[-1], eager.reconstruct(b)[-1], atol=1e-4)


@pytest.mark.parametrize("name", ["VarNet", "UNet", "CIRIM", "RIM"])
def test_phase_equivariant_models_rotate_with_the_data(name):
    torch.manual_seed(0)
    cls, extra = TINY[name]
    b = _batch()
    rot = torch.exp(torch.tensor(1j * 2.0))
    inputs = (b["masked_kspace"], b["sensitivity_maps"], b["mask"], b["initial_image"])
    rotated = (b["masked_kspace"] * rot, b["sensitivity_maps"], b["mask"],
               b["initial_image"] * rot)
    model = cls(_cfg(extra, phase_equivariant=True)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(*rotated), model(*inputs) * rot, atol=2e-5, rtol=1e-4)
        plain = cls(_cfg(extra, phase_equivariant=False))  # the same weights: not equivariant
        plain.load_state_dict(model.state_dict())
        assert not torch.allclose(plain(*rotated), plain(*inputs) * rot, atol=1e-3)


def test_unknown_evaluation_convention_is_a_config_error():
    from atommic_core.errors import ConfigError

    with pytest.raises(ConfigError, match="evaluation_convention: expected one of fastmri, "
                                          "atommic; found 'nyu'"):
        ZeroFilled({"evaluation_convention": "nyu"})


@pytest.mark.parametrize("convention", ["fastmri", "atommic"])
def test_test_table_scores_file_units_under_the_named_convention(convention, tmp_path,
                                                                 monkeypatch, capsys):
    """Slices stored at different scales (1.0/0.5/0.1): the table scores the file's units."""
    import numpy as np
    from metric_references import atommic_reference, fastmri_reference

    items = [{**_item("toy.h5", i, seed=i), "scale": 4.0 * a}
             for i, a in enumerate((1.0, 0.5, 0.1))]
    monkeypatch.setattr(ReconstructionModel, "build_dataset", lambda self, cfg, split: items)
    model = ZeroFilled({"evaluation_convention": convention,
                        "test_ds": {"batch_size": 2, "shuffle": False}})
    model.output_dir = str(tmp_path)
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
               enable_model_summary=False).test(model, verbose=False)
    batch = torch.utils.data.default_collate(items)
    scale = batch["scale"].reshape(-1, 1, 1)
    recon = model.reconstruct(model._prepare(batch))[-1].abs().double() * scale
    reference = {"fastmri": fastmri_reference, "atommic": atommic_reference}[convention]
    want = reference(batch["target"].double().mul(scale).numpy(), recon.numpy())
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["fname"] for r in rows] == ["toy.h5", "MEAN"]
    assert {r["convention"] for r in rows} == {convention}
    for key in ("ssim", "psnr", "nmse"):
        assert float(rows[0][key]) == pytest.approx(want[key], rel=1e-6), key
    assert np.isclose(float(rows[1]["ssim"]), want["ssim"], rtol=1e-6)
    assert f"test metrics ({convention} convention:" in capsys.readouterr().out
