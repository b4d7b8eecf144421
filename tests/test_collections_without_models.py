"""atommic-mtl installs, loads as a plugin and offers a config folder (no models yet).

atommic-qi has its models now: tests/atommic_qi/test_plugin.py covers its plugin.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from atommic_core import plugins


@pytest.mark.parametrize("name", ["mtl"])
def test_collection_is_a_loaded_plugin_of_its_own_distribution(name):
    record = {r.name: r for r in plugins.plugin_records()}[name]
    assert record.error is None
    assert record.distribution == f"atommic-{name}"


@pytest.mark.parametrize("name", ["mtl"])
def test_collection_config_folder_exists(name):
    plugin = importlib.import_module(f"atommic_{name}.plugin")
    (folder,) = plugin.atommic_config_dirs()
    assert Path(folder).is_dir()
