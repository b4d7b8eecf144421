"""``trainer.precision``: every listed value on the CPU either trains or says what can."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from atommic_core.errors import ConfigError
from atommic_core.exp_manager import CPU_PRECISIONS, PRECISIONS, trainer_kwargs
from atommic_core.testing import BoringModel

# precision -> (dtype of the weights after fit, whether autocast to bfloat16 runs the step)
CPU_OK = {"bf16-mixed": (torch.float32, torch.bfloat16), "32-true": (torch.float32, None),
          "64-true": (torch.float64, None), "64": (torch.float64, None),
          "32": (torch.float32, None)}


class _DtypeProbe(BoringModel):
    def training_step(self, batch, batch_idx):
        self.seen_dtype = self.head(self.encoder(batch[0])).dtype
        return super().training_step(batch, batch_idx)


def test_lists_match_the_contract():
    assert PRECISIONS == ("16-mixed", "bf16-mixed", "32-true", "64-true", "64", "32", "16")
    assert set(CPU_OK) == set(CPU_PRECISIONS)


@pytest.mark.parametrize("precision", list(CPU_OK))
def test_cpu_precision_trains(precision, tmp_path):
    kwargs = trainer_kwargs({"accelerator": "cpu", "precision": precision, "max_steps": 1})
    model = _DtypeProbe(OmegaConf.create({"train_ds": {"num_samples": 8, "batch_size": 4},
                                          "optim": {"name": "sgd", "lr": 0.1}}))
    trainer = pl.Trainer(**kwargs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path)
    trainer.fit(model)
    weights, compute = CPU_OK[precision]
    assert trainer.global_step == 1
    assert model.head.weight.dtype == weights
    assert model.seen_dtype == (compute or weights)


@pytest.mark.parametrize("precision", ["16-mixed", "16", 16])
def test_fp16_on_cpu_names_what_works(precision):
    with pytest.raises(ConfigError) as info:
        trainer_kwargs({"accelerator": "cpu", "precision": precision})
    message = str(info.value)
    assert "cannot run on the CPU" in message
    assert message.endswith("use one of: " + ", ".join(CPU_PRECISIONS))


@pytest.mark.parametrize("precision", ["8-true", "bf16", "half", True, 16.0])
def test_unlisted_precision(precision):
    with pytest.raises(ConfigError, match=r"trainer\.precision: expected one of 16-mixed, "
                                          r"bf16-mixed, 32-true, 64-true, 64, 32, 16, found"):
        trainer_kwargs({"accelerator": "cpu", "precision": precision})


@pytest.mark.parametrize("precision", ["16-mixed", "16"])
def test_fp16_accepted_for_gpu(precision):
    # the check needs no GPU: a GPU accelerator only ever receives a listed value
    assert trainer_kwargs({"accelerator": "gpu", "precision": precision}) == {
        "accelerator": "gpu", "precision": precision}


def test_auto_accelerator_without_gpu_is_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="cannot run on the CPU"):
        trainer_kwargs({"precision": "16-mixed"})
