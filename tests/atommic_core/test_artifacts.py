"""Artifacts: registered files travel inside the archive under content-hashed names."""

from __future__ import annotations

import hashlib
import os
import tarfile

import pytest
from omegaconf import OmegaConf

from atommic_core import ArtifactError, ModelPT
from atommic_core.errors import ConfigError
from atommic_core.testing import ArtifactModel, BoringModel


def _file(folder, name, content: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return str(path)


def _member(content: bytes, basename: str) -> str:
    return f"{hashlib.sha256(content).hexdigest()[:16]}_{basename}"


def test_register_artifact_outside_restore_returns_src(tmp_path):
    table = _file(tmp_path, "table.bin", b"T1")
    model = ArtifactModel({"table_path": table})
    assert model.table_file == table
    assert model.cfg.table_path == table
    assert model.notes_file is None  # optional and absent


def test_round_trip_with_artifacts(tmp_path):
    table = _file(tmp_path / "src", "table.bin", b"lookup table")
    notes = _file(tmp_path / "src", "notes.txt", b"some notes")
    model = ArtifactModel({"table_path": table, "notes_path": notes})
    path = model.save_to(tmp_path / "m.atommic")
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
    assert {_member(b"lookup table", "table.bin"), _member(b"some notes", "notes.txt")} <= names
    stored = ModelPT.restore_from(path, return_config=True)
    assert stored.table_path == "atommic:" + _member(b"lookup table", "table.bin")
    os.remove(table)  # the restored model must not need the original files
    os.remove(notes)
    restored = ModelPT.restore_from(path)
    assert restored.table == b"lookup table"
    assert restored.table_file != table and os.path.isfile(restored.table_file)
    assert restored.cfg.table_path == restored.table_file
    with open(restored.notes_file, "rb") as f:
        assert f.read() == b"some notes"
    # saving the restored model again gives the same member names
    again = restored.save_to(tmp_path / "again.atommic")
    with tarfile.open(again) as tar:
        assert set(tar.getnames()) == names


class TwoTables(BoringModel):
    def __init__(self, cfg, trainer=None):
        super().__init__(cfg, trainer)
        self.a = self.register_artifact("first.path", self.cfg.first.path)
        self.b = self.register_artifact("second.path", self.cfg.second.path)


def test_equal_basenames_do_not_collide(tmp_path):
    first = _file(tmp_path / "one", "tokenizer.model", b"first")
    second = _file(tmp_path / "two", "tokenizer.model", b"second")
    model = TwoTables({"first": {"path": first}, "second": {"path": second}})
    path = model.save_to(tmp_path / "m.atommic")
    with tarfile.open(path) as tar:
        names = [n for n in tar.getnames() if n.endswith("tokenizer.model")]
    assert sorted(names) == sorted([_member(b"first", "tokenizer.model"),
                                    _member(b"second", "tokenizer.model")])
    restored = TwoTables.restore_from(path)
    with open(restored.a, "rb") as fa, open(restored.b, "rb") as fb:
        assert (fa.read(), fb.read()) == (b"first", b"second")


def test_missing_required_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match=r"artifact 'table_path': file .* does not exist"):
        ArtifactModel({"table_path": str(tmp_path / "missing.bin")})
    with pytest.raises(ConfigError, match="verify_src_exists=False"):
        ArtifactModel({})


def test_optional_artifact_missing_gives_none_and_is_not_saved(tmp_path):
    table = _file(tmp_path, "table.bin", b"T")
    model = ArtifactModel({"table_path": table, "notes_path": str(tmp_path / "gone.txt")})
    assert model.notes_file is None
    path = model.save_to(tmp_path / "m.atommic")
    with tarfile.open(path) as tar:
        assert not any(n.endswith("gone.txt") for n in tar.getnames())
    restored = ArtifactModel.restore_from(path)
    assert restored.notes_file is None
    assert restored.table == b"T"


def test_artifact_deleted_before_save_is_reported(tmp_path):
    table = _file(tmp_path, "table.bin", b"T")
    model = ArtifactModel({"table_path": table})
    os.remove(table)
    with pytest.raises(ArtifactError, match="missing or not a regular file"):
        model.save_to(tmp_path / "m.atommic")
    assert not (tmp_path / "m.atommic").exists()


def test_archive_reference_outside_restore_is_explained(tmp_path):
    with pytest.raises(ArtifactError, match="only resolves inside restore_from"):
        ArtifactModel({"table_path": "atommic:abc_table.bin"})


def test_extracted_artifacts_are_removed_with_the_model(tmp_path):
    import gc

    table = _file(tmp_path, "table.bin", b"T")
    path = ArtifactModel({"table_path": table}).save_to(tmp_path / "m.atommic")
    restored = ArtifactModel.restore_from(path)
    folder = os.path.dirname(os.path.dirname(restored.table_file))
    assert os.path.isdir(folder)
    del restored
    gc.collect()
    assert not os.path.exists(folder)


def test_override_config_with_new_artifact_path(tmp_path):
    table = _file(tmp_path, "table.bin", b"old")
    path = ArtifactModel({"table_path": table}).save_to(tmp_path / "m.atommic")
    cfg = ModelPT.restore_from(path, return_config=True)
    cfg.table_path = _file(tmp_path / "new", "table.bin", b"new")
    restored = ModelPT.restore_from(path, override_config_path=OmegaConf.create(cfg))
    assert restored.table == b"new"
