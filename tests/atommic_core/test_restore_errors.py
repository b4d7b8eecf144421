"""A restore_path that is not a compatible archive or checkpoint is one line, before any folder."""

from __future__ import annotations

import argparse

import pytest
import torch
from atommic_cli_testkit import base_config, cli_plugin, main_run, write_config

__all__ = ["cli_plugin"]


def _bad_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    h5 = tmp_path / "data.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    other = tmp_path / "seg.ckpt"  # another model's Lightning checkpoint
    torch.save({"state_dict": {f"net.block{i}.weight": torch.zeros(2) for i in range(40)},
                "hyper_parameters": {"cfg": {"model_name": "SegmentationUNet"}}}, other)
    unsafe = tmp_path / "unsafe.ckpt"  # a pickle of a class: never unpickled
    torch.save({"state_dict": {}, "extra": argparse.Namespace(a=1)}, unsafe)
    empty = tmp_path / "empty.atommic"
    empty.write_bytes(b"")
    return {
        text: ["is text, not a .atommic archive or a Lightning checkpoint"],
        h5: ["is HDF5 data, not a .atommic archive"],
        other: ["does not fit CliBoring (it was trained as model_name=SegmentationUNet)",
                "4 missing (encoder.0.weight", "40 unexpected (net.block0.weight",
                "hint: use the config it was trained with"],
        unsafe: ["cannot be read safely as a checkpoint", "only loads tensors"],
        empty: ["is an empty file"],
    }


@pytest.mark.parametrize("command", ["test", "predict"])
def test_bad_restore_path_is_one_line(cli_plugin, tmp_path, capsys, command):
    for path, fragments in _bad_files(tmp_path).items():
        cfg = base_config(tmp_path / "exps")
        cfg["model"]["restore_path"] = str(path)
        assert main_run(write_config(tmp_path / "cfg", cfg), command) == 2, path
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        assert "weights_only=False" not in lines[0]
        assert not (tmp_path / "exps").exists()  # nothing written


def test_matching_lightning_checkpoint_still_restores(cli_plugin, tmp_path):
    cfg = base_config(tmp_path / "exps")
    folder = write_config(tmp_path / "cfg", cfg)
    assert main_run(folder, "train", "trainer.max_epochs=1", "exp_manager.version=a") == 0
    ckpt = tmp_path / "exps" / "boring" / "a" / "checkpoints" / "boring--last.ckpt"
    assert main_run(folder, "test", f"+model.restore_path={ckpt}",
                    "exp_manager.version=b") == 0
