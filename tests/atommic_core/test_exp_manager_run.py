"""Experiment-manager options in real (tiny) training runs through the CLI, in process."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from atommic_cli_testkit import base_config, cli_plugin, main_run, run_dirs, write_config

__all__ = ["cli_plugin"]


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def _steps(path):
    return [int(s) for s in path.read_text().split()]


def _config(tmp_path, **model):
    cfg = base_config(tmp_path / "exps", record_steps=str(tmp_path / "steps.txt"), **model)
    del cfg["model"]["test_ds"]
    return write_config(tmp_path / "cfg", cfg)


def test_resume_if_exists_restores_everything(cli_plugin, tmp_path, caplog):
    sched = "+model.optim.sched={name: StepLR, step_size: 1, gamma: 0.5}"
    folder = _config(tmp_path)
    assert main_run(folder, "train", "trainer.max_epochs=1", sched) == 0
    (tmp_path / "steps.txt").unlink()
    with caplog.at_level(logging.INFO, logger="atommic_core"):
        assert main_run(folder, "train", "trainer.max_epochs=2", sched,
                        "exp_manager.resume_if_exists=true") == 0
    (run,) = run_dirs(tmp_path / "exps")  # resumed in the same run folder
    assert "resume_if_exists: resuming from" in caplog.text
    assert "training starts at step 4 (epoch 1)" in caplog.text
    assert _steps(tmp_path / "steps.txt") == [4, 5, 6, 7]  # no step lost or repeated
    last = _ckpt(run / "checkpoints" / "boring--last.ckpt")
    assert last["global_step"] == 8
    adam = last["optimizer_states"][0]["state"][0]
    assert int(adam["step"]) == 8  # optimizer state carried over, not restarted
    scheduler = last["lr_schedulers"][0]
    assert scheduler["last_epoch"] == 8
    assert scheduler["_last_lr"][0] == pytest.approx(0.01 * 0.5 ** 8)


def test_resume_with_nothing_to_resume_starts_fresh(cli_plugin, tmp_path, caplog):
    folder = _config(tmp_path)
    with caplog.at_level(logging.INFO, logger="atommic_core"):
        assert main_run(folder, "train", "trainer.max_epochs=1",
                        "exp_manager.resume_if_exists=true") == 0
    assert "nothing to resume" in caplog.text and "starting fresh" in caplog.text
    assert _steps(tmp_path / "steps.txt") == [0, 1, 2, 3]


def test_resume_from_checkpoint_file(cli_plugin, tmp_path):
    folder = _config(tmp_path)
    assert main_run(folder, "train", "trainer.max_epochs=1") == 0
    last = run_dirs(tmp_path / "exps")[0] / "checkpoints" / "boring--last.ckpt"
    (tmp_path / "steps.txt").unlink()
    assert main_run(folder, "train", "trainer.max_epochs=2",
                    f"exp_manager.resume_from_checkpoint='{last}'") == 0
    assert _steps(tmp_path / "steps.txt") == [4, 5, 6, 7]
    assert len(run_dirs(tmp_path / "exps")) == 2  # a new run folder that continues the old


def test_early_stopping(cli_plugin, tmp_path):
    folder = _config(tmp_path)
    stop = "exp_manager.early_stopping_callback_params={patience: 1, min_delta: 100.0}"
    assert main_run(folder, "train", "trainer.max_epochs=10",
                    "exp_manager.create_early_stopping_callback=true", stop) == 0
    # epoch 0 sets the best val_loss, epoch 1 does not improve by 100: stop after 2 epochs
    assert _steps(tmp_path / "steps.txt")[-1] == 7


def test_seed_makes_runs_reproducible(cli_plugin, tmp_path):
    folder = _config(tmp_path)
    for version, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert main_run(folder, "train", "trainer.max_epochs=1", f"+seed={seed}",
                        f"exp_manager.version={version}") == 0
    weights = {v: _ckpt(tmp_path / "exps" / "boring" / v / "checkpoints" /
                        "boring--last.ckpt")["state_dict"] for v in "abc"}
    assert all(torch.equal(weights["a"][k], weights["b"][k]) for k in weights["a"])
    assert not torch.equal(weights["a"]["head.weight"], weights["c"]["head.weight"])


def test_run_without_seed_gets_the_default_seed_recorded(cli_plugin, tmp_path, caplog):
    from omegaconf import OmegaConf

    from atommic_core.exp_manager import DEFAULT_SEED

    folder = _config(tmp_path)
    with caplog.at_level(logging.INFO, logger="atommic_core"):
        for version in "ab":
            assert main_run(folder, "train", "trainer.max_epochs=1",
                            f"exp_manager.version={version}") == 0
    assert f"seed {DEFAULT_SEED} (the default" in caplog.text
    runs = tmp_path / "exps" / "boring"
    assert OmegaConf.load(runs / "a" / "config.yaml").seed == DEFAULT_SEED
    a, b = (_ckpt(runs / v / "checkpoints" / "boring--last.ckpt")["state_dict"] for v in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same command twice: same weights


@pytest.mark.parametrize(("signal_name", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_signal_writes_resumable_checkpoint(cli_plugin, tmp_path, signal_name, code):
    folder = _config(tmp_path, signal_name=signal_name)
    assert main_run(folder, "train", "+model.signal_at_step=2") == code
    (run,) = run_dirs(tmp_path / "exps")
    interrupted = _ckpt(run / "checkpoints" / "boring--interrupted.ckpt")
    assert interrupted["global_step"] == 3  # the step running when the signal came finished
    assert not (run / "checkpoints" / "boring.atommic").exists()  # not a finished model
    state = next(v for k, v in interrupted["callbacks"].items() if "SignalCheckpoint" in k)
    assert state == {"interruptions": 1}
    assert main_run(folder, "train", "exp_manager.resume_if_exists=true") == 0
    assert _steps(tmp_path / "steps.txt") == list(range(8))  # 0,1,2 then 3..7: none lost
    assert (run / "checkpoints" / "boring.atommic").is_file()


@pytest.mark.slow
def test_wandb_runs_offline(cli_plugin, tmp_path, monkeypatch):
    for var in ("WANDB_MODE", "WANDB_SILENT", "WANDB_DISABLE_GIT"):
        monkeypatch.delenv(var, raising=False)
    folder = _config(tmp_path)
    assert main_run(folder, "train", "+trainer.max_steps=2", "exp_manager.create_wandb_logger=true",
                    "exp_manager.create_csv_logger=true", "~model.validation_ds") == 0
    (run,) = run_dirs(tmp_path / "exps")
    assert list((run / "wandb").glob("offline-run-*"))
    assert "train_loss" in (run / "csv" / "metrics.csv").read_text()


@pytest.mark.parametrize("stop_at", [1, 5])  # mid epoch 0 / mid epoch 1 (4 steps per epoch)
def test_interrupted_then_resumed_run_equals_the_uninterrupted_one(cli_plugin, tmp_path,
                                                                   caplog, stop_at):
    folder = _config(tmp_path, signal_name="SIGINT")
    csv = ("exp_manager.create_csv_logger=true", "trainer.log_every_n_steps=1")
    assert main_run(folder, "train", *csv, "exp_manager.version=full") == 0
    with caplog.at_level(logging.WARNING, logger="atommic_core"):
        assert main_run(folder, "train", *csv, "exp_manager.version=cut",
                        f"+model.signal_at_step={stop_at}") == 130
    assert "to continue this run exactly where it stopped:" in caplog.text
    assert "exp_manager.resume_if_exists=true exp_manager.version=cut" in caplog.text
    runs = tmp_path / "exps" / "boring"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main_run(folder, "train", *csv, "exp_manager.version=cut",
                        "exp_manager.resume_if_exists=true") == 0
    assert not [w for w in caught if "not resumable" in str(w.message)]
    full = _ckpt(runs / "full" / "checkpoints" / "boring--last.ckpt")["state_dict"]
    cut = _ckpt(runs / "cut" / "checkpoints" / "boring--last.ckpt")["state_dict"]
    assert max(float((full[k] - cut[k]).abs().max()) for k in full) == 0.0
    # every step is logged once, with the uninterrupted run's loss (the interrupted
    # session's metrics.csv was kept as metrics-0.csv when the run resumed)
    cut_losses = _train_losses(runs / "cut" / "csv" / "metrics-0.csv")
    assert max(cut_losses) == stop_at  # the step that finished after the signal
    cut_losses.update(_train_losses(runs / "cut" / "csv" / "metrics.csv"))
    assert cut_losses == _train_losses(runs / "full" / "csv" / "metrics.csv")


def _train_losses(path) -> dict[int, str]:
    import csv

    with open(path, newline="") as f:
        return {int(r["step"]): r["train_loss"] for r in csv.DictReader(f) if r["train_loss"]}


def test_fresh_run_mentions_an_interrupted_sibling(cli_plugin, tmp_path, caplog):
    folder = _config(tmp_path, signal_name="SIGINT")
    assert main_run(folder, "train", "exp_manager.version=a", "+model.signal_at_step=1") == 130
    with caplog.at_level(logging.WARNING, logger="atommic_core"):
        assert main_run(folder, "train", "exp_manager.version=b", "trainer.max_epochs=1") == 0
    assert "the run" in caplog.text and "was interrupted and never finished" in caplog.text
    assert "exp_manager.version=a" in caplog.text


def test_second_ctrl_c_aborts_at_once_with_exit_130(cli_plugin, tmp_path, capsys):
    folder = _config(tmp_path, signal_name="SIGINT", signal_count=2)
    assert main_run(folder, "train", "+model.signal_at_step=2") == 130
    assert "train aborted by a second Ctrl-C at step 2; no checkpoint written" in \
        capsys.readouterr().err
    (run,) = run_dirs(tmp_path / "exps")
    assert not (run / "checkpoints" / "boring--interrupted.ckpt").exists()  # no time to save


def test_resuming_an_end_of_epoch_checkpoint_with_workers_is_exact(cli_plugin, tmp_path):
    folder = _config(tmp_path)
    loader = "+model.train_ds.num_workers=1"  # workers prefetch before on_train_epoch_start
    assert main_run(folder, "train", loader, "exp_manager.version=full",
                    "trainer.max_epochs=3") == 0
    assert main_run(folder, "train", loader, "exp_manager.version=cut",
                    "trainer.max_epochs=1") == 0
    assert main_run(folder, "train", loader, "exp_manager.version=cut", "trainer.max_epochs=3",
                    "exp_manager.resume_if_exists=true") == 0
    runs = tmp_path / "exps" / "boring"
    full, cut = (_ckpt(runs / v / "checkpoints" / "boring--last.ckpt")
                 for v in ("full", "cut"))
    assert all(torch.equal(full["state_dict"][k], cut["state_dict"][k])
               for k in full["state_dict"])
    # the batches done belong to the last epoch started (2), not to current_epoch (3)
    assert cut["atommic_train_progress"] == {"epoch": 2, "batches_done": 4}
