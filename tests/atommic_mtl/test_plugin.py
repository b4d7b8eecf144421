"""atommic-mtl installs, loads as a plugin and offers its config folder (no models yet)."""

from __future__ import annotations

from pathlib import Path

from atommic_core import plugins


def test_mtl_is_a_loaded_plugin_of_its_own_distribution():
    records = {r.name: r for r in plugins.plugin_records()}
    assert "mtl" in records
    record = records["mtl"]
    assert record.error is None
    assert record.distribution == "atommic-mtl"


def test_mtl_config_folder_exists():
    from atommic_mtl import plugin

    (folder,) = plugin.atommic_config_dirs()
    assert Path(folder).is_dir()
