"""Every config error is one ``error: ...`` line, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import pytest
from atommic_cli_testkit import base_config, cli_plugin, main_run, write_config

from atommic_core.errors import AtommicError

__all__ = ["cli_plugin"]


def _edit(cfg, dotted, value):
    *parents, last = dotted.split(".")
    node = cfg
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

CASES = [
    # (config key to change, value, command, expected fragments of the one line)
    ("trainr", {"max_epochs": 1}, "train",
     ["unknown top-level section 'trainr'", "Did you mean 'trainer'?"]),
    ("model.model_name", _DELETE, "train", ["missing required key model.model_name"]),
    ("model.train_ds", _DELETE, "train", ["missing required key model.train_ds"]),
    ("model.optim", _DELETE, "train", ["missing required key model.optim"]),
    ("model.restore_path", _DELETE, "test", ["missing required key model.restore_path"]),
    ("model.optim.name", _DELETE, "train", ["missing required key model.optim.name"]),
    ("trainer.max_epochs", "ten", "train",
     ["trainer.max_epochs: expected int or None, found str 'ten'"]),
    ("trainer.max_epoch", 3, "train",
     ["unknown key trainer.max_epoch.", "Did you mean 'max_epochs'?"]),
    ("exp_manager.create_tensorboard_logger", "sure", "train",
     ["exp_manager.create_tensorboard_logger: expected bool, found str 'sure'"]),
    ("exp_manager.checkpoint_params", {}, "train",
     ["unknown key exp_manager.checkpoint_params.", "'checkpoint_callback_params'"]),
    ("model.model_name", "CliBorin", "train",
     ["Unknown model 'CliBorin'.", "Did you mean 'CliBoring'?"]),
    ("model.optim.name", "adamm", "train",
     ["Unknown optimizer 'adamm'.", "Did you mean 'adam'"]),
    ("model.optim.sched", {"name": "CosineAneling"}, "train",
     ["Unknown scheduler 'CosineAneling'.", "Did you mean 'CosineAnnealing'"]),
    ("model.train_ds.data_path", "/no/such/folder", "train",
     ["model.train_ds.data_path: /no/such/folder does not exist", "hint:"]),
    ("model.test_ds.sensitivity_maps_path", ["/no/maps.h5"], "train",
     ["model.test_ds.sensitivity_maps_path: /no/maps.h5 does not exist"]),
    ("exp_manager.resume_from_checkpoint", "/no/last.ckpt", "train",
     ["exp_manager.resume_from_checkpoint: /no/last.ckpt does not exist"]),
    ("model.restore_path", "/no/model.atommic", "test",
     ["model.restore_path: /no/model.atommic does not exist"]),
    ("model.train_ds", 5, "train", ["model.train_ds: expected a mapping"]),
    ("model.optim.lr", -1e-3, "train", ["model.optim: Invalid learning rate: -0.001",
                                        "hint: fix the value in model.optim"]),
    ("model.optim.weight_decay", -0.1, "train", ["model.optim: Invalid weight_decay value"]),
    ("model.optim.betas", [1.5, 0.9], "train", ["Invalid beta parameter at index 0: 1.5"]),
    ("model.optim.sched", {"name": "CosineAnnealing", "warmup_steps": 5, "warmup_ratio": 0.1},
     "train", ["set warmup_steps or warmup_ratio, not both"]),
    ("model.optim.sched", {"name": "CosineAnnealing", "warmup_ratio": 1.5},
     "train", ["expected 0 <= warmup_ratio <= 1; found 1.5"]),
    ("model.optim.sched", {"name": "CosineAnnealing", "min_lr": -1.0},
     "train", ["expected min_lr >= 0; found -1.0"]),
]


@pytest.mark.parametrize(("key", "value", "command", "fragments"), CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_config_error_is_one_line(cli_plugin, tmp_path, capsys, key, value, command,
                                  fragments):
    cfg = base_config(tmp_path / "exps")
    if command == "test":
        cfg["model"]["restore_path"] = str(tmp_path)
    _edit(cfg, key, value)
    folder = write_config(tmp_path, cfg)
    assert main_run(folder, command) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[0]
    assert not (tmp_path / "exps").exists()  # checked before any run folder is made


def test_only_the_data_the_command_uses_must_exist(cli_plugin, tmp_path, capsys):
    cfg = base_config(tmp_path / "exps", predict_ds={"data_path": "/no/predict"})
    cfg["model"]["test_ds"]["data_path"] = "/no/test"
    folder = write_config(tmp_path, cfg)
    assert main_run(folder, "train", "trainer.max_epochs=1", "~model.test_ds") == 0
    archive = next((tmp_path / "exps").rglob("boring.atommic"))
    assert main_run(folder, "predict", f"+model.restore_path={archive}") == 2
    assert "model.predict_ds.data_path: /no/predict does not exist" in capsys.readouterr().err


def test_unknown_data_section_type_and_override_hint(cli_plugin, tmp_path, capsys):
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    assert main_run(folder, "train", "model.not_there=1") == 2
    err = capsys.readouterr().err
    assert "Could not override 'model.not_there'" in err and "+model.not_there=1" in err


def test_monitor_never_logged_is_one_line(cli_plugin, tmp_path, capsys):
    cfg = base_config(tmp_path / "exps")
    cfg["exp_manager"]["checkpoint_callback_params"] = {"monitor": "val_ssim"}
    folder = write_config(tmp_path, cfg)
    assert main_run(folder, "train", "trainer.max_epochs=1") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("error: ") and "val_ssim" in line and "val_loss" in line


@pytest.mark.parametrize("how", ["--verbose", "HYDRA_FULL_ERROR"])
def test_traceback_on_request(cli_plugin, tmp_path, monkeypatch, how):
    cfg = base_config(tmp_path / "exps")
    cfg["model"]["optim"]["name"] = "adamm"
    folder = write_config(tmp_path, cfg)
    args = ["--verbose"] if how == "--verbose" else []
    if how == "HYDRA_FULL_ERROR":
        monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(AtommicError, match="Unknown optimizer 'adamm'"):
        main_run(folder, "train", *args)


@pytest.mark.parametrize(("override", "fragment"), [
    ("+model.reject_init=true", "model (CliBoring): reject_init: expected false, found True"),
    ("+model.bad_split=validation", "validation data: bad.h5 is truncated"),
    ("+model.bad_split=test", "test data: bad.h5 is truncated"),
])
def test_model_and_data_errors_come_before_the_run_folder(cli_plugin, tmp_path, capsys,
                                                          override, fragment):
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    assert main_run(folder, "train", override) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]
    assert not (tmp_path / "exps").exists()


def test_user_error_after_training_started_keeps_the_run_and_logs_why(cli_plugin, tmp_path,
                                                                      capsys):
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    assert main_run(folder, "train", "+model.raise_at_step=2", "+model.raise_kind=atommic") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: planned failure at 2"
    (log,) = (tmp_path / "exps").glob("boring/*/atommic_log_globalrank-0_localrank-0.txt")
    text = log.read_text()
    assert "run stopped: AtommicError('planned failure at 2')" in text and "Traceback" in text


def test_crash_traceback_is_in_the_run_log(cli_plugin, tmp_path):
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    with pytest.raises(RuntimeError, match="planned crash at step 0"):
        main_run(folder, "train", "+model.raise_at_step=0")
    (log,) = (tmp_path / "exps").glob("boring/*/atommic_log_globalrank-0_localrank-0.txt")
    assert "RuntimeError: planned crash at step 0" in log.read_text()


def test_missing_logger_package_names_the_package(cli_plugin, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in (
        "tensorboard", "tensorboardX") else real(name, *a))
    cfg = base_config(tmp_path / "exps")
    cfg["exp_manager"]["create_tensorboard_logger"] = True
    assert main_run(write_config(tmp_path, cfg), "train") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == ("error: exp_manager.create_tensorboard_logger needs the 'tensorboard' "
                    "package, which is not installed; hint: pip install tensorboard, or set "
                    "exp_manager.create_tensorboard_logger=false")
    assert not (tmp_path / "exps").exists()
