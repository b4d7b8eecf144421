"""``train``, ``test`` and ``predict`` through ``atommic_core.cli.main`` in this process."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from atommic_cli_testkit import base_config, cli_plugin, main_run, run_dirs, write_config

from atommic_core.exp_manager import build_trainer, manager, setup_experiment

__all__ = ["cli_plugin"]  # the fixture, imported so pytest finds it


def _results(path):
    return json.loads(path.read_text())[0]


def test_train_then_test_and_predict_from_archive(cli_plugin, tmp_path):
    exp_dir = tmp_path / "exps"
    folder = write_config(tmp_path / "cfg", base_config(exp_dir))
    assert main_run(folder, "train") == 0
    (run,) = run_dirs(exp_dir)
    ckpts = run / "checkpoints"
    for name in ("config.yaml", "cmd-args.log", "atommic_log_globalrank-0_localrank-0.txt",
                 "test_results.json"):
        assert (run / name).is_file(), name
    assert (ckpts / "boring.atommic").is_file() and (ckpts / "boring--last.ckpt").is_file()
    assert len(list(ckpts.glob("boring--val_loss=*.ckpt"))) == 1  # save_top_k=1
    trained = _results(run / "test_results.json")["test_loss"]

    archive = f"+model.restore_path={ckpts / 'boring.atommic'}"
    assert main_run(folder, "test", archive) == 0
    tested = run_dirs(exp_dir)[-1]
    # train tests with the exported (best) weights, so both agree
    assert _results(tested / "test_results.json")["test_loss"] == pytest.approx(trained)
    assert json.loads((tested / "test_metrics_rank0.json").read_text())["test_loss"] == \
        pytest.approx(trained)

    assert main_run(folder, "predict", archive) == 0
    predictions = torch.load(run_dirs(exp_dir)[-1] / "predictions" / "predictions.pt")
    assert predictions.shape == (16, 1)  # predict_ds falls back to test_ds (16 samples)

    best = next(ckpts.glob("boring--val_loss=*.ckpt"))
    assert main_run(folder, "test", f"+model.restore_path='{best}'") == 0  # '=' in name
    assert _results(run_dirs(exp_dir)[-1] / "test_results.json")["test_loss"] == \
        pytest.approx(trained)


def test_cfg_prints_composed_config(cli_plugin, tmp_path, capsys):
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    assert main_run(folder, "train", "--cfg", "trainer.max_epochs=7") == 0
    assert "max_epochs: 7" in capsys.readouterr().out
    assert not (tmp_path / "exps").exists()  # nothing runs


def test_train_without_test_set_logs_plain_lines(cli_plugin, tmp_path, caplog):
    cfg = base_config(tmp_path / "exps")
    del cfg["model"]["test_ds"], cfg["model"]["validation_ds"]
    folder = write_config(tmp_path, cfg)
    with caplog.at_level(logging.INFO, logger="atommic_core"):
        assert main_run(folder, "train", "trainer.max_epochs=1") == 0
    (run,) = run_dirs(tmp_path / "exps")
    assert not (run / "test_results.json").exists()
    assert "epoch 0 step 1/" not in caplog.text  # max_steps is unset
    assert "epoch 0 step 1 train_loss=" in caplog.text and "step 4" in caplog.text
    # no validation set: no monitor, so the last weights are exported
    assert "saved last weights" in caplog.text


def test_progress_bar_only_in_a_terminal(cli_plugin, tmp_path, monkeypatch):
    from pytorch_lightning.callbacks import TQDMProgressBar

    from atommic_core.callbacks import PlainProgressLog

    cfg = write_config(tmp_path, base_config(tmp_path / "exps"))
    from atommic_core.cli.config import compose_config

    composed = compose_config(str(cfg), "exp", [])
    monkeypatch.setattr(manager, "_is_terminal", lambda: True)
    trainer = build_trainer(composed, setup_experiment(composed, "test"))
    assert isinstance(trainer.progress_bar_callback, TQDMProgressBar)
    assert not any(isinstance(c, PlainProgressLog) for c in trainer.callbacks)
    monkeypatch.setattr(manager, "_is_terminal", lambda: False)
    trainer = build_trainer(composed, setup_experiment(composed, "test"))
    assert trainer.progress_bar_callback is None
    assert any(isinstance(c, PlainProgressLog) for c in trainer.callbacks)


def test_init_from_with_include_and_exclude(cli_plugin, tmp_path):
    exp_dir = tmp_path / "exps"
    folder = write_config(tmp_path / "cfg", base_config(exp_dir))
    assert main_run(folder, "train", "trainer.max_epochs=1", "~model.test_ds") == 0
    source = run_dirs(exp_dir)[0] / "checkpoints" / "boring.atommic"
    src = torch.load(run_dirs(exp_dir)[0] / "checkpoints" / "boring--last.ckpt",
                     weights_only=False)["state_dict"]
    # lr=0: training leaves the weights as they were loaded
    init = f"+model.init_from={{path: '{source}', include: [encoder], exclude: [encoder.0.bias]}}"
    assert main_run(folder, "train", "trainer.max_epochs=1", "~model.test_ds",
                    "model.optim.lr=0.0", "+exp_manager.name=second", init) == 0
    got = torch.load(next((exp_dir / "second").glob("*/checkpoints/second--last.ckpt")),
                     weights_only=False)["state_dict"]
    assert torch.equal(got["encoder.0.weight"], src["encoder.0.weight"])
    assert not torch.equal(got["encoder.0.bias"], src["encoder.0.bias"])  # excluded
    assert not torch.equal(got["head.weight"], src["head.weight"])  # not included


def test_init_from_unknown_module_is_one_line(cli_plugin, tmp_path, capsys):
    ckpt = tmp_path / "w.ckpt"
    torch.save({"state_dict": {}}, ckpt)
    folder = write_config(tmp_path, base_config(tmp_path / "exps"))
    code = main_run(folder, "train", f"+model.init_from={{path: '{ckpt}', include: [encodr]}}")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "no module 'encodr'" in err[0] and "Did you mean 'encoder'" in err[0]


def test_docs_full_example_runs(cli_plugin, tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    example = re.search(r"## A complete example\n+```yaml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "demo.yaml").write_text(example)
    assert main_run(tmp_path, "train", "trainer.max_epochs=1", "model.train_ds.num_samples=32",
                    f"exp_manager.exp_dir={tmp_path / 'exps'}", name="demo") == 0
    (run,) = run_dirs(tmp_path / "exps", "boring_demo")
    assert (run / "checkpoints" / "boring_demo.atommic").is_file()
    assert (run / "csv" / "metrics.csv").is_file() and (run / "test_results.json").is_file()


def test_output_dir_receives_test_results_and_predictions(cli_plugin, tmp_path):
    exp_dir, out = tmp_path / "exps", tmp_path / "out"
    folder = write_config(tmp_path / "cfg", base_config(exp_dir))
    assert main_run(folder, "train", "trainer.max_epochs=1", "~model.test_ds") == 0
    archive = run_dirs(exp_dir)[0] / "checkpoints" / "boring.atommic"
    for command in ("test", "predict"):
        assert main_run(folder, command, f"+model.restore_path={archive}",
                        f"exp_manager.output_dir={out}") == 0
    assert (out / "test_results.json").is_file()
    assert (out / "predictions" / "predictions.pt").is_file()


def test_pretrained_partial_load(cli_plugin, tmp_path, monkeypatch):
    import types

    from atommic_cli_testkit import CliBoring

    import atommic_core

    monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(tmp_path / "cache"))
    exp_dir = tmp_path / "exps"
    folder = write_config(tmp_path / "cfg", base_config(exp_dir))
    assert main_run(folder, "train", "trainer.max_epochs=1", "~model.test_ds") == 0
    source = run_dirs(exp_dir)[0] / "checkpoints"
    src = torch.load(source / "boring--last.ckpt", weights_only=False)["state_dict"]

    offers = types.ModuleType("offers_tiny_boring")

    @atommic_core.hookimpl
    def atommic_pretrained_models():
        return [atommic_core.PretrainedModelInfo("tiny_boring", "a test model",
                                                 str(source / "boring.atommic"), CliBoring)]

    offers.atommic_pretrained_models = atommic_pretrained_models
    cli_plugin.register_plugin(offers, "offers_tiny_boring")
    assert main_run(folder, "train", "trainer.max_epochs=1", "~model.test_ds",
                    "model.optim.lr=0.0", "+exp_manager.name=second",
                    "+model.pretrained={name: tiny_boring, include: [head]}") == 0
    got = torch.load(next((exp_dir / "second").glob("*/checkpoints/second--last.ckpt")),
                     weights_only=False)["state_dict"]
    assert torch.equal(got["head.weight"], src["head.weight"])
    assert not torch.equal(got["encoder.0.weight"], src["encoder.0.weight"])


def test_data_skip_warning_prints_as_one_line():
    import warnings

    from atommic_core.cli import _short_warnings
    from atommic_core.errors import DataSkipWarning

    _short_warnings()
    text = warnings.formatwarning(DataSkipWarning("skipping bad file: a.h5: truncated"),
                                  DataSkipWarning, "x.py", 1)
    assert text == "warning: skipping bad file: a.h5: truncated\n"
