"""Non-finite training stops loudly and nothing is saved from non-finite weights."""

from __future__ import annotations

import pytest
import torch
from atommic_cli_testkit import base_config, cli_plugin, main_run, run_dirs, write_config

from atommic_core.callbacks import FiniteGuard
from atommic_core.callbacks.finite_guard import non_finite_tensors
from atommic_core.errors import NonFiniteError
from atommic_core.testing import BoringModel

__all__ = ["cli_plugin"]


def test_non_finite_tensors_names_float_and_complex_tensors_only():
    state = {"a": torch.ones(2), "b": torch.tensor([1.0, float("inf")]),
             "c": torch.tensor([1 + 1j, complex("nan")]), "steps": torch.tensor([3])}
    assert non_finite_tensors(state) == ["b", "c"]


def test_save_to_refuses_nan_weights(tmp_path):
    model = BoringModel({"hidden": 3})
    with torch.no_grad():
        next(model.parameters())[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"refusing to save .*1 of \d+ weight tensor"):
        model.save_to(tmp_path / "m.atommic")
    assert list(tmp_path.iterdir()) == []  # no archive, no temporary file


def test_every_model_gets_the_guard():
    assert any(isinstance(cb, FiniteGuard) for cb in BoringModel({}).configure_callbacks())


def test_nan_loss_stops_training_before_the_update(cli_plugin, tmp_path, capsys):
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    assert main_run(folder, "train", "+model.nan_at_step=5") == 2  # epoch 1, after a checkpoint
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: train: the loss is nan at step 5 (epoch 1)")
    (run,) = run_dirs(tmp_path / "exps")
    assert not (run / "checkpoints" / "boring.atommic").exists()  # not a finished model
    for ckpt in (run / "checkpoints").glob("*.ckpt"):  # what was saved before stays finite
        state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
        assert non_finite_tensors(state) == []
