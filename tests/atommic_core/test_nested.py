"""Nested models: a child built three ways comes back from the parent's archive intact."""

from __future__ import annotations

import os
import tarfile

import pytest
import torch

from atommic_core import ModelPT, PretrainedModelInfo
from atommic_core.errors import ConfigError
from atommic_core.testing import ArtifactModel, BoringModel, NestedBoringModel


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def child_archive(tmp_path):
    table = tmp_path / "src" / "table.bin"
    table.parent.mkdir()
    table.write_bytes(b"child table")
    torch.manual_seed(3)
    child = ArtifactModel({"hidden": 4, "table_path": str(table)})
    path = child.save_to(tmp_path / "child.atommic")
    os.remove(table)  # from now on only the archive holds it
    return child, path


@pytest.mark.parametrize("how", ["subconfig", "path", "name"])
def test_child_round_trips_through_the_parent(how, tmp_path, child_archive, offer_pretrained,
                                              monkeypatch):
    child, child_path = child_archive
    monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(tmp_path / "cache"))
    if how == "subconfig":
        cfg = {"child_model": ModelPT.restore_from(child_path, return_config=True)}
    elif how == "path":
        cfg = {"child_model_path": child_path}
    else:
        offer_pretrained(PretrainedModelInfo("child_v1", "a child", child_path, ArtifactModel))
        cfg = {"child_model_name": "child_v1"}
    if how == "subconfig":
        # a subconfig with an archive reference only resolves inside a restore: use a file
        table = tmp_path / "again" / "table.bin"
        table.parent.mkdir()
        table.write_bytes(b"child table")
        cfg["child_model"]["table_path"] = str(table)
    torch.manual_seed(7)
    parent = NestedBoringModel(cfg)
    if how != "subconfig":
        assert _same(child, parent.child)  # built from the archive: the child's weights
    assert parent.child.table == b"child table"
    assert parent.cfg.child_model.hidden == 4

    path = parent.save_to(tmp_path / "parent.atommic")
    with tarfile.open(path) as tar:
        assert sum(n.endswith("_table.bin") for n in tar.getnames()) == 1
    stored = ModelPT.restore_from(path, return_config=True)
    assert stored.child_model.target == "atommic_core.testing.ArtifactModel"
    assert stored.child_model.table_path.startswith("atommic:")

    restored = ModelPT.restore_from(path)
    assert type(restored) is NestedBoringModel and type(restored.child) is ArtifactModel
    assert _same(parent, restored)
    assert restored.child.table == b"child table"
    assert os.path.isfile(restored.child.table_file)
    assert "atommic_restore_" in restored.child.table_file
    x = torch.randn(3, 4)
    assert torch.equal(parent(x), restored(x))
    # and a second generation keeps everything
    again = ModelPT.restore_from(restored.save_to(tmp_path / "again.atommic"))
    assert _same(parent, again) and again.child.table == b"child table"


def test_parent_and_child_artifacts_with_equal_basenames(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "c").mkdir()
    (tmp_path / "p" / "table.bin").write_bytes(b"parent")
    (tmp_path / "c" / "table.bin").write_bytes(b"child")

    class ParentWithTable(NestedBoringModel):
        def __init__(self, cfg, trainer=None):
            super().__init__(cfg, trainer)
            self.own = self.register_artifact("table_path", self.cfg.table_path)

    child_cfg = {"target": "atommic_core.testing.ArtifactModel",
                 "table_path": str(tmp_path / "c" / "table.bin")}
    parent = ParentWithTable({"table_path": str(tmp_path / "p" / "table.bin"),
                              "child_model": child_cfg})
    path = parent.save_to(tmp_path / "m.atommic")
    restored = ParentWithTable.restore_from(path)
    with open(restored.own, "rb") as f:
        assert f.read() == b"parent"
    assert restored.child.table == b"child"


def test_register_atommic_submodule_needs_a_modelpt():
    parent = BoringModel({})
    with pytest.raises(ConfigError, match="expected a ModelPT, found Linear"):
        parent.register_atommic_submodule("x", "x_model", torch.nn.Linear(1, 1))


def test_child_config_reaches_load_from_checkpoint_hparams(tmp_path):
    parent = NestedBoringModel({"child_model": {"target": "atommic_core.testing.BoringModel",
                                                "hidden": 2}})
    checkpoint: dict = {}
    parent.on_save_checkpoint(checkpoint)
    rebuilt = NestedBoringModel(**checkpoint["hyper_parameters"])
    assert rebuilt.child.encoder[0].out_features == 2
