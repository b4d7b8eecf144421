"""Lazy references ``"package.module:Class"`` in registries: imported on first use only."""

from __future__ import annotations

import sys

import pytest

from atommic_core import hookimpl, plugins, registry
from atommic_core.errors import PluginError, PluginLoadWarning
from atommic_core.lazy_ref import describe, parse_reference, resolve_reference

_LAZY_MODULE = "_atommic_lazy_target"
_SOURCE = """
from dataclasses import dataclass

class Opt:
    pass

@dataclass
class Params:
    lr: float = 0.1

class Outer:
    class Inner:
        pass
"""


@pytest.fixture
def lazy_module(tmp_path, monkeypatch):
    """A module on ``sys.path`` that nothing has imported yet."""
    (tmp_path / f"{_LAZY_MODULE}.py").write_text(_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(_LAZY_MODULE, None)
    yield _LAZY_MODULE
    sys.modules.pop(_LAZY_MODULE, None)


def _plugin(hook: str, *args: object) -> object:
    class Plugin:
        pass

    def impl(register):
        register(*args)

    impl.__name__ = hook
    setattr(Plugin, hook, staticmethod(hookimpl(impl)))
    return Plugin()


def test_parse_and_resolve_reference(lazy_module):
    assert parse_reference("a.b_c:D.E") == ("a.b_c", "D.E")
    for bad in ("no_colon", "a:b:c", "a.:B", ":B", "a b:C", "a:"):
        with pytest.raises(ValueError, match=r"expected a class or a lazy reference .*found"):
            parse_reference(bad)
    inner = resolve_reference(f"{lazy_module}:Outer.Inner")
    assert inner.__qualname__ == "Outer.Inner"
    assert describe(inner) == f"{lazy_module}.Outer.Inner" and describe("x:Y") == "x:Y"


def test_lazy_entry_is_listed_without_import_and_imported_on_use(fresh_plugins, lazy_module):
    plugins.register_plugin(_plugin("atommic_register_optimizers", "lazyopt",
                                    f"{lazy_module}:Opt", f"{lazy_module}:Params"),
                            "lazyp", distribution="lazy-dist")
    entry = registry.optimizers.entry("lazyopt")
    assert entry.lazy and entry.qualname == f"{lazy_module}:Opt"
    assert "lazyopt" in registry.optimizers and lazy_module not in sys.modules
    assert entry.obj.__name__ == "Opt" and entry.params().lr == 0.1
    assert not entry.lazy and registry.optimizers["lazyopt"] is entry.obj
    assert sys.modules[lazy_module].Opt is entry.obj


def test_malformed_reference_fails_only_that_plugin_naming_it(fresh_plugins):
    plugins.register_plugin(_plugin("atommic_register_optimizers", "badref", "torch.optim.Adam"),
                            "badplug")
    with pytest.warns(PluginLoadWarning, match=r'"badplug".*found \'torch.optim.Adam\''):
        assert "badref" not in registry.optimizers
    assert "sgd" in registry.optimizers


@pytest.mark.parametrize(("ref", "cause"), [("_atommic_no_such_module_xyz:Opt", "ModuleNotFound"),
                                            ("atommic_core.errors:NoSuchClass", "AttributeError")])
def test_unimportable_reference_is_a_one_line_error_naming_the_plugin(fresh_plugins, ref, cause):
    plugins.register_plugin(_plugin("atommic_register_schedulers", "GoneSched", ref),
                            "goneplug", distribution="gone-dist")
    entry = registry.schedulers.entry("GoneSched")  # listing still works
    with pytest.raises(PluginError) as info:
        registry.schedulers["GoneSched"]
    message = str(info.value)
    assert "\n" not in message and cause in message
    assert message.startswith("plugin 'goneplug' (gone-dist) registered the scheduler 'GoneSched'")
    assert repr(ref) in message and "hint:" in message and entry.lazy


def test_lazy_model_reference_is_checked_when_imported(fresh_plugins, lazy_module):
    plugins.register_plugin(_plugin("atommic_register_models", "NotModel", f"{lazy_module}:Opt"),
                            "modelplug")
    assert "NotModel" in registry.models  # registration accepts the string
    with pytest.raises(PluginError, match=r"^plugin 'modelplug': model 'NotModel' must be a "
                                          r"subclass of atommic_core.ModelPT"):
        registry.models["NotModel"]


def test_registry_module_does_not_need_modelpt():
    """Regression: registry -> model.modelpt -> optim -> registry was an import cycle."""
    import inspect

    source = inspect.getsource(registry)
    assert "from atommic_core.model" not in source and "import ModelPT" not in source
