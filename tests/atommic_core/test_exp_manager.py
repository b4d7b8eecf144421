"""Unit tests of the experiment manager pieces: options, run folder, run files, callbacks."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from atommic_core.errors import ConfigError
from atommic_core.exp_manager import ExpManagerConfig, checkpointing, log_dir, loggers


@pytest.fixture(autouse=True)
def _no_version_env(monkeypatch):
    monkeypatch.delenv(log_dir.VERSION_ENV, raising=False)


# -- options -----------------------------------------------------------------------------
def test_options_defaults_and_alias():
    cfg = ExpManagerConfig.from_config({"summary_writer_kwargs": {"flush_secs": 5}})
    assert cfg.tensorboard_logger_kwargs == {"flush_secs": 5}
    assert cfg.create_tensorboard_logger and not cfg.create_wandb_logger
    assert cfg.save_atommic_on_train_end and cfg.checkpoint_on_interrupt


def test_options_unknown_key_suggests():
    with pytest.raises(ConfigError, match=r"exp_manager\.resume_if_exist\. Did you mean "
                                          r"'resume_if_exists'"):
        ExpManagerConfig.from_config({"resume_if_exist": True})


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("resume_if_exists", "yes", "bool"),
    ("seed", 1.5, "int or None"),
    ("checkpoint_callback_params", [1], "dict"),
])
def test_options_wrong_type(key, value, expected):
    with pytest.raises(ConfigError, match=f"exp_manager.{key}: expected {expected}, found"):
        ExpManagerConfig.from_config({key: value})


# -- run folder --------------------------------------------------------------------------
def test_log_dir_given_version(tmp_path):
    run = log_dir.resolve_log_dir(str(tmp_path), "exp", "v7")
    assert run == tmp_path / "exp" / "v7" and run.is_dir()


def test_log_dir_timestamp_default_and_same_second(tmp_path):
    first = log_dir.resolve_log_dir(str(tmp_path), "exp", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", first.name)
    second = log_dir.resolve_log_dir(str(tmp_path), "exp", None)
    assert second != first and second.is_dir()


def test_log_dir_numbered_versions(tmp_path):
    names = [log_dir.resolve_log_dir(str(tmp_path), "e", None, use_datetime_version=False).name
             for _ in range(2)]
    assert names == ["version_0", "version_1"]


def test_log_dir_resume_picks_newest_run_with_checkpoints(tmp_path):
    old = log_dir.resolve_log_dir(str(tmp_path), "e", "old")
    (old / "checkpoints").mkdir()
    (old / "checkpoints" / "last.ckpt").write_bytes(b"x")
    log_dir.resolve_log_dir(str(tmp_path), "e", "a_test_run_without_checkpoints")
    assert log_dir.resolve_log_dir(str(tmp_path), "e", None, resume=True) == old


def test_log_dir_other_ranks_use_rank0_version(tmp_path, monkeypatch):
    run0 = log_dir.resolve_log_dir(str(tmp_path), "e", None, rank=0)
    assert os.environ[log_dir.VERSION_ENV] == run0.name
    assert log_dir.resolve_log_dir(str(tmp_path), "e", None, rank=1) == run0


def test_externally_launched_rank_without_version_is_a_config_error(tmp_path, monkeypatch):
    """torchrun/srun start every rank: without a given version each would pick its own folder."""
    monkeypatch.delenv(log_dir.VERSION_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"^rank 1 of a multi-process run: .*hint: add "
                                          r"\+exp_manager.version=<name>"):
        log_dir.resolve_log_dir(str(tmp_path), "e", None, rank=1)
    assert log_dir.resolve_log_dir(str(tmp_path), "e", "given", rank=1).name == "given"
    assert [p.name for p in (tmp_path / "e").iterdir()] == ["given"]


# -- run files ---------------------------------------------------------------------------
def test_run_files_config_command_and_git(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    monkeypatch.chdir(repo)
    cfg = OmegaConf.create({"model": {"model_name": "M", "lr": "${model.base}", "base": 0.5}})
    files = log_dir.write_run_files(tmp_path, cfg, ["train", "--config-name", "my exp"])
    assert {f.name for f in files} == {"config.yaml", "cmd-args.log", "git-info.log"}
    assert OmegaConf.load(tmp_path / "config.yaml").model.lr == 0.5  # resolved
    assert "train --config-name 'my exp'" in (tmp_path / "cmd-args.log").read_text()
    assert re.search(r"commit: [0-9a-f]{40}", (tmp_path / "git-info.log").read_text())


def test_run_files_without_git(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    files = log_dir.write_run_files(tmp_path, OmegaConf.create({"a": 1}), ["x"])
    assert "git-info.log" not in {f.name for f in files}


def test_file_logging_copies_records(tmp_path):
    handler = log_dir.add_file_logging(tmp_path, 0, 0)
    try:
        logging.getLogger("atommic_core.exp_manager").info("hello run folder")
        logging.getLogger("pytorch_lightning").info("hello lightning")
    finally:
        log_dir.remove_file_logging(handler)
    text = (tmp_path / "atommic_log_globalrank-0_localrank-0.txt").read_text()
    assert "hello run folder" in text and "hello lightning" in text


# -- loggers -----------------------------------------------------------------------------
def test_loggers_each_optional(tmp_path, monkeypatch):
    for var in ("WANDB_MODE", "WANDB_SILENT", "WANDB_DISABLE_GIT"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    run = tmp_path / "e" / "v"
    none = ExpManagerConfig.from_config({"create_tensorboard_logger": False})
    assert loggers.build_loggers(none, run, "e") == []
    every = ExpManagerConfig.from_config({"create_csv_logger": True, "create_wandb_logger": True,
                                          "wandb_logger_kwargs": {"project": "p"}})
    tb, wb, csv = loggers.build_loggers(every, run, "e")
    assert isinstance(tb, TensorBoardLogger) and tb.log_dir == str(run)
    assert isinstance(wb, WandbLogger) and wb._offline and wb._project == "p"
    assert isinstance(csv, CSVLogger) and Path(csv.log_dir) == run / "csv"
    assert os.environ["WANDB_MODE"] == "offline"


def test_logger_bad_kwargs_is_config_error(tmp_path):
    cfg = ExpManagerConfig.from_config({"create_csv_logger": True,
                                        "csv_logger_kwargs": {"flush_every": 1}})
    with pytest.raises(ConfigError, match=r"csv_logger_kwargs.*flush_every"):
        loggers.build_loggers(cfg, tmp_path / "e" / "v", "e")


# -- checkpoints and early stopping ------------------------------------------------------
def test_checkpoint_params_applied(tmp_path):
    cfg = ExpManagerConfig.from_config({"checkpoint_callback_params": {
        "monitor": "val_ssim", "mode": "max", "save_top_k": 3, "save_last": False}})
    (cb,) = checkpointing.build_checkpoint_callbacks(cfg, tmp_path, "exp", has_validation=True)
    assert isinstance(cb, ModelCheckpoint)
    assert (cb.monitor, cb.mode, cb.save_top_k) == ("val_ssim", "max", 3)
    assert cb.dirpath == str(tmp_path) and cb.filename.startswith("exp--{val_ssim")


def test_checkpoint_defaults_follow_validation(tmp_path):
    cfg = ExpManagerConfig.from_config({"checkpoint_callback_params": {
        "every_n_train_steps": 5}})
    best, last = checkpointing.build_checkpoint_callbacks(cfg, tmp_path, "e", True)
    assert best.monitor == "val_loss" and best.save_top_k == 1
    assert last.monitor is None and last.filename == "e--last"
    assert last._every_n_train_steps == 5  # saved at the same points as the top-k
    assert best.state_key != last.state_key
    (only_best, only_last) = checkpointing.build_checkpoint_callbacks(cfg, tmp_path, "e", False)
    assert only_best.monitor is None and only_best.state_key != only_last.state_key


def test_last_checkpoint_is_current_without_improvement(tmp_path):
    import pytorch_lightning as pl

    from atommic_core.testing import BoringModel

    class Worse(BoringModel):  # val_loss grows each epoch: only epoch 0 is "best"
        def validation_step(self, batch, batch_idx):
            self.log("val_loss", float(self.current_epoch))

    cfg = ExpManagerConfig.from_config({})
    callbacks = checkpointing.build_checkpoint_callbacks(cfg, tmp_path, "e", True)
    model = Worse({"train_ds": {"num_samples": 8, "batch_size": 4},
                   "validation_ds": {"num_samples": 4, "batch_size": 4},
                   "optim": {"name": "sgd", "lr": 0.1}})
    pl.Trainer(max_epochs=3, callbacks=callbacks, logger=False, enable_progress_bar=False,
               enable_model_summary=False, default_root_dir=tmp_path).fit(model)
    last = torch.load(tmp_path / "e--last.ckpt", weights_only=False)
    assert last["global_step"] == 6 and callbacks[0].best_model_path.endswith("step=2.ckpt")


def test_checkpoint_bad_param(tmp_path):
    cfg = ExpManagerConfig.from_config({"checkpoint_callback_params": {"mode": "up"}})
    with pytest.raises(ConfigError, match="checkpoint_callback_params"):
        checkpointing.build_checkpoint_callbacks(cfg, tmp_path, "e", True)


def test_early_stopping_params():
    cfg = ExpManagerConfig.from_config({"early_stopping_callback_params": {
        "monitor": "val_ssim", "mode": "max", "patience": 7}})
    cb = checkpointing.build_early_stopping(cfg)
    assert isinstance(cb, EarlyStopping)
    assert (cb.monitor, cb.mode, cb.patience) == ("val_ssim", "max", 7)


def test_resume_newest_checkpoint(tmp_path):
    for i, name in enumerate(["a.ckpt", "b--last.ckpt"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    cfg = ExpManagerConfig.from_config({"resume_if_exists": True})
    assert checkpointing.find_resume_checkpoint(cfg, tmp_path).endswith("b--last.ckpt")


def test_resume_nothing_to_resume(tmp_path, caplog):
    cfg = ExpManagerConfig.from_config({"resume_if_exists": True})
    with caplog.at_level(logging.INFO, logger="atommic_core"):
        assert checkpointing.find_resume_checkpoint(cfg, tmp_path) is None
    assert "nothing to resume" in caplog.text and "starting fresh" in caplog.text
    strict = ExpManagerConfig.from_config({"resume_if_exists": True,
                                           "resume_ignore_no_checkpoint": False})
    with pytest.raises(ConfigError, match="nothing to resume"):
        checkpointing.find_resume_checkpoint(strict, tmp_path)


def test_resume_from_checkpoint_path(tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"x")
    cfg = ExpManagerConfig.from_config({"resume_from_checkpoint": str(tmp_path / "x.ckpt")})
    assert checkpointing.find_resume_checkpoint(cfg, tmp_path / "none") == str(tmp_path / "x.ckpt")
    missing = ExpManagerConfig.from_config({"resume_from_checkpoint": str(tmp_path / "y.ckpt")})
    with pytest.raises(ConfigError, match=r"y\.ckpt does not exist"):
        checkpointing.find_resume_checkpoint(missing, tmp_path)


# -- trainer section and ranks -----------------------------------------------------------
def test_trainer_arguments_reach_the_trainer(tmp_path):
    from pytorch_lightning.callbacks import LearningRateMonitor

    from atommic_core.exp_manager import build_trainer, setup_experiment

    cfg = OmegaConf.create({"model": {"model_name": "M"}, "exp_manager": {
        "exp_dir": str(tmp_path), "create_tensorboard_logger": False}, "trainer": {
        "accelerator": "cpu", "gradient_clip_val": 0.5, "accumulate_grad_batches": 3,
        "max_time": "00:00:10:00", "limit_train_batches": 0.5, "deterministic": True,
        "callbacks": [{"_target_": "pytorch_lightning.callbacks.LearningRateMonitor"}]}})
    exp = setup_experiment(cfg, "test")
    trainer = build_trainer(cfg, exp)
    exp.close()
    assert trainer.gradient_clip_val == 0.5 and trainer.accumulate_grad_batches == 3
    assert trainer.limit_train_batches == 0.5
    assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert trainer.default_root_dir == str(exp.log_dir) and trainer.loggers == []


def test_other_ranks_share_the_folder_and_write_no_run_files(tmp_path, monkeypatch):
    from atommic_core.exp_manager import setup_experiment

    cfg = OmegaConf.create({"model": {"model_name": "M"}, "exp_manager": {
        "exp_dir": str(tmp_path), "log_global_rank_0_only": True,
        "create_tensorboard_logger": False}})
    monkeypatch.setenv(log_dir.VERSION_ENV, "shared")
    exp = setup_experiment(cfg, "train", rank=1)
    exp.close()
    assert exp.log_dir == tmp_path / "M" / "shared"
    assert list(exp.log_dir.iterdir()) == []  # rank 0 writes config, command line and logs
