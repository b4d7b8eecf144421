"""atommic-qi installs, loads as a plugin and offers its config folder (no models yet)."""

from __future__ import annotations

from pathlib import Path

from atommic_core import plugins


def test_qi_is_a_loaded_plugin_of_its_own_distribution():
    records = {r.name: r for r in plugins.plugin_records()}
    assert "qi" in records
    record = records["qi"]
    assert record.error is None
    assert record.distribution == "atommic-qi"


def test_qi_config_folder_exists():
    from atommic_qi import plugin

    (folder,) = plugin.atommic_config_dirs()
    assert Path(folder).is_dir()
