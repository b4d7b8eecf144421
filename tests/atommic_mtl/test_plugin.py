"""atommic-mtl is a plugin of its own distribution: six models and a config folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from atommic_core import plugins


def test_loaded_from_its_own_distribution():
    record = {r.name: r for r in plugins.plugin_records()}["mtl"]
    assert record.error is None and record.distribution == "atommic-mtl"


def test_config_folder_holds_the_six_configs():
    from atommic_mtl import plugin

    (folder,) = plugin.atommic_config_dirs()
    assert len(list(Path(folder).glob("mtl_*.yaml"))) == 6


def test_cli_lists_the_models_with_their_plugin():
    proc = subprocess.run([sys.executable, "-m", "atommic_core", "list", "models"],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = [ln for ln in proc.stdout.splitlines() if " mtl" in ln or "atommic-mtl" in ln]
    names = {ln.split()[0] for ln in lines}
    assert names == {"IDSLR", "IDSLRUNet", "MTLRS", "RecSegUNet", "SegNet", "SERANet"}
