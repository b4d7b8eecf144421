"""Shared fixtures: a fresh plugin manager per test that changes plugins."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def fresh_plugins():
    """Reset the plugin manager and registries before and after the test."""
    from atommic_core import plugins

    plugins.reset_plugin_manager()
    yield plugins
    plugins.reset_plugin_manager()


@pytest.fixture(autouse=True)
def _private_pretrained_cache(tmp_path_factory, monkeypatch):
    """Runs that publish (``exp_manager.publish_pretrained``) never touch ``~/.cache``."""
    if "ATOMMIC_CACHE_DIR" not in os.environ:
        folder = tmp_path_factory.getbasetemp() / "atommic_cache"
        monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(folder))
