"""Fixtures for plugin tests: throwaway distributions found through real entry points."""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

_counter = itertools.count()


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins) -> Callable:
    """Build installed-looking plugin distributions in a temp dir on ``sys.path``.

    ``make_dist(dist, source, ep_name=..., version=...)`` writes ``<dist>-<version>.dist-info``
    (METADATA + ``entry_points.txt`` in group ``atommic``) and a module holding ``source``;
    ``importlib.metadata`` then finds it like any installed plugin; ``extra_modules`` maps
    more module names to sources written beside it. Returns the plugin's module name.
    The plugin manager is reset before and after the test (``fresh_plugins``).
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    made: list[str] = []

    def make(dist: str, source: str, ep_name: str | None = None, version: str = "1.0",
             extra_modules: dict[str, str] | None = None) -> str:
        module = f"_atommic_test_plugin_{next(_counter)}"
        for name, text in (extra_modules or {}).items():  # helper modules next to the plugin
            (site / f"{name}.py").write_text(textwrap.dedent(text))
            made.append(name)
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[atommic]\n{ep_name or dist} = {module}\n")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        made.append(module)
        fresh_plugins.reset_plugin_manager()
        return module

    yield make
    for module in made:
        sys.modules.pop(module, None)


@pytest.fixture
def offer_pretrained(fresh_plugins) -> Callable:
    """``offer_pretrained(*infos)`` registers a throwaway plugin offering those entries.

    Its ``atommic_pretrained_models`` returns the given ``PretrainedModelInfo`` objects; the
    plugin manager is reset before and after the test (``fresh_plugins``).
    """
    from atommic_core import hookimpl

    class Catalogue:
        def __init__(self, infos):
            self.infos = infos

        @hookimpl
        def atommic_pretrained_models(self):
            return list(self.infos)

    def offer(*infos) -> None:
        fresh_plugins.register_plugin(Catalogue(infos), name="catalogue")

    return offer
