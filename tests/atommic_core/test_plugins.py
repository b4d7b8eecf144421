"""The plugin manager: entry-point loading, isolation of broken plugins, strict mode, typos."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from atommic_core import plugins, registry
from atommic_core.errors import PluginError, PluginLoadWarning, UnknownNameError

GOOD = """
from dataclasses import dataclass
from atommic_core import hookimpl

class FakeOpt:
    def __init__(self, params, lr=0.1):
        self.lr = lr

@dataclass
class FakeOptParams:
    lr: float = 0.1

@hookimpl
def atommic_register_optimizers(register):
    register("{name}", FakeOpt, FakeOptParams)
"""

BROKEN_IMPORT = "import not_a_real_module_xyz  # noqa\n"

TYPO = """
from atommic_core import hookimpl

@hookimpl
def atommic_register_optimizer(register):
    pass
"""

RAISES_IN_HOOK = """
from dataclasses import dataclass
from atommic_core import hookimpl

@dataclass
class P:
    lr: float = 0.1

class Opt:
    pass

@hookimpl
def atommic_register_optimizers(register):
    register("halfway", Opt, P)
    raise RuntimeError("boom in register")
"""


def _plugin_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, PluginLoadWarning)]


def test_entry_point_plugin_is_loaded_with_distribution_and_version(make_dist):
    module = make_dist("atommic-fake", GOOD.format(name="fakeopt"), ep_name="fake",
                       version="1.2.3")
    assert module not in sys.modules  # nothing loads before first use
    record = plugins.record_for("fake")
    assert (record.distribution, record.version, record.error) == ("atommic-fake", "1.2.3", None)
    assert record.hooks == ["atommic_register_optimizers"]
    entry = registry.optimizers.entry("fakeopt")
    assert (entry.plugin, entry.distribution, entry.obj.__name__) == (
        "fake", "atommic-fake", "FakeOpt")


def test_manager_is_built_once_and_core_registers_first(make_dist):
    make_dist("atommic-fake", GOOD.format(name="zzopt"), ep_name="fake")
    pm = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is pm
    assert plugins.plugin_records()[0].name == "core"
    names = [e.plugin for e in registry.optimizers.entries()]
    assert names[0] == "core" and names[-1] == "fake"  # registration order, core first


def test_importing_the_core_loads_no_plugin_and_no_torch():
    code = ("import sys, atommic_core, atommic_core.plugins, atommic_core.registry;"
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'atommic_rec',"
            " 'atommic_seg', 'atommic_example'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_broken_plugin_warns_once_and_others_keep_working(make_dist):
    make_dist("atommic-broken", BROKEN_IMPORT, ep_name="broken", version="0.3")
    make_dist("atommic-fake", GOOD.format(name="fakeopt"), ep_name="fake")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins.get_plugin_manager()
        assert registry.optimizers["fakeopt"].__name__ == "FakeOpt"
        assert "adam" in registry.optimizers
        plugins.get_plugin_manager()
        plugins.load_errors()
    messages = _plugin_warnings(caught)
    assert len(messages) == 1, messages
    assert "atommic-broken 0.3" in messages[0] and "not_a_real_module_xyz" in messages[0]
    assert [r.name for r in plugins.load_errors()] == ["broken"]


def test_using_a_name_after_a_failed_plugin_keeps_the_original_error(make_dist):
    make_dist("atommic-broken", BROKEN_IMPORT, ep_name="broken", version="0.3")
    with pytest.warns(PluginLoadWarning):
        plugins.get_plugin_manager()
    with pytest.raises(UnknownNameError) as info:
        registry.optimizers["brokenopt"]
    text = str(info.value)
    assert 'Error loading plugin "broken" (atommic-broken 0.3): ModuleNotFoundError' in text
    assert "\n" not in text
    cause = info.value.__cause__
    assert isinstance(cause, ModuleNotFoundError) and cause.__traceback__ is not None
    for name in ("broken", "atommic-broken"):  # by plugin or by distribution name
        with pytest.raises(PluginError, match='Error loading plugin "broken"') as info:
            plugins.require_plugin(name)
        assert info.value.__cause__ is cause
    assert plugins.require_plugin("core").distribution == "atommic-core"
    with pytest.raises(PluginError, match="no atommic plugin 'nope' is installed"):
        plugins.require_plugin("nope")


def test_strict_mode_raises_at_once(make_dist, monkeypatch):
    make_dist("atommic-broken", BROKEN_IMPORT, ep_name="broken", version="0.3")
    monkeypatch.setenv("ATOMMIC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r'Error loading plugin "broken" \(atommic-broken') as e:
        plugins.get_plugin_manager()
    assert isinstance(e.value.__cause__, ModuleNotFoundError)
    monkeypatch.delenv("ATOMMIC_STRICT_PLUGINS")
    with pytest.warns(PluginLoadWarning):  # nothing half-built was kept: a clean retry
        assert plugins.get_plugin_manager().has_plugin("core")


def test_hook_name_typo_is_caught_and_isolated(make_dist):
    make_dist("atommic-typo", TYPO, ep_name="typo")
    make_dist("atommic-fake", GOOD.format(name="fakeopt"), ep_name="fake")
    with pytest.warns(PluginLoadWarning, match="did you mean 'atommic_register_optimizers'"):
        pm = plugins.get_plugin_manager()
    assert not pm.has_plugin("typo") and pm.has_plugin("fake")
    assert "unknown hook 'atommic_register_optimizer'" in repr(plugins.record_for("typo").error)
    assert "fakeopt" in registry.optimizers


def test_hook_name_typo_raises_in_strict_mode(make_dist, monkeypatch):
    make_dist("atommic-typo", TYPO, ep_name="typo")
    monkeypatch.setenv("ATOMMIC_STRICT_PLUGINS", "true")
    with pytest.raises(PluginError, match="unknown hook 'atommic_register_optimizer'"):
        plugins.get_plugin_manager()


def test_optional_hooks_and_collection_hookspecs_are_accepted(make_dist):
    source = '''
    from atommic_core import hookimpl
    from atommic_core.hookspecs import hookspec

    class Specs:
        @hookspec
        def atommic_register_widgets(self, register):
            """A collection's own registration hook."""

    ATOMMIC_HOOKSPECS = [Specs]

    class Widget:
        pass

    @hookimpl
    def atommic_register_widgets(register):
        register("gear", Widget)

    @hookimpl(optionalhook=True)
    def atommic_register_gizmos(register):
        pass
    '''
    make_dist("atommic-widgets", source, ep_name="widgets")
    widgets = registry.Registry("widget", "atommic_register_widgets")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        assert widgets["gear"].__name__ == "Widget"
    assert widgets.entry("gear").distribution == "atommic-widgets"


def test_collection_hookspecs_by_module_name(make_dist):
    specs = '''
    from atommic_core.hookspecs import hookspec

    @hookspec
    def atommic_register_doodads(register):
        """Register doodads."""
    '''
    plugin = """
    from atommic_core import hookimpl

    ATOMMIC_HOOKSPECS = ["_atommic_test_doodad_specs"]

    @hookimpl
    def atommic_register_doodads(register):
        register("doodad", int)
    """
    make_dist("atommic-doodads", plugin, ep_name="doodads",
              extra_modules={"_atommic_test_doodad_specs": specs})
    doodads = registry.Registry("doodad", "atommic_register_doodads")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        assert doodads["doodad"] is int
    assert plugins.get_plugin_manager().hook.atommic_register_doodads.has_spec()


def test_two_distributions_claiming_one_plugin_name(make_dist):
    make_dist("atommic-first", GOOD.format(name="firstopt"), ep_name="same")
    make_dist("atommic-second", GOOD.format(name="secondopt"), ep_name="same")
    with pytest.warns(PluginLoadWarning) as caught:
        plugins.get_plugin_manager()
    message = " ".join(_plugin_warnings(caught.list))
    assert "atommic-first" in message and "atommic-second" in message
    assert len(plugins.load_errors()) == 1


def test_failing_registration_hook_is_isolated(make_dist):
    make_dist("atommic-halfway", RAISES_IN_HOOK, ep_name="halfway", version="2.0")
    with pytest.warns(PluginLoadWarning, match="boom in register"):
        assert "adam" in registry.optimizers
    assert "halfway" not in registry.optimizers  # entries of a failed hook are dropped
    with pytest.raises(UnknownNameError, match='Error loading plugin "halfway"'):
        registry.optimizers["halfwayy"]


def test_failing_registration_hook_raises_in_strict_mode(make_dist, monkeypatch):
    make_dist("atommic-halfway", RAISES_IN_HOOK, ep_name="halfway")
    monkeypatch.setenv("ATOMMIC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match='Error loading plugin "halfway"') as info:
        registry.optimizers["adam"]
    assert isinstance(info.value.__cause__, RuntimeError)


def test_register_plugin_in_process(fresh_plugins):
    from dataclasses import dataclass

    from atommic_core import hookimpl

    @dataclass
    class Params:
        lr: float = 1.0

    class Opt:
        pass

    class InProcess:
        @hookimpl
        def atommic_register_optimizers(self, register):
            register("inproc_opt", Opt, Params)

    plugins.register_plugin(InProcess(), "inproc", distribution="my-notebook")
    entry = registry.optimizers.entry("inproc_opt")
    assert (entry.obj, entry.plugin, entry.distribution) == (Opt, "inproc", "my-notebook")
    with pytest.raises(PluginError, match="'inproc' is already used"):
        plugins.register_plugin(InProcess(), "inproc")

    class Typo:
        @hookimpl
        def atommic_register_model(self, register):
            pass

    with pytest.raises(PluginError, match="did you mean 'atommic_register_models'"):
        plugins.register_plugin(Typo(), "typo")
    assert not plugins.get_plugin_manager().has_plugin("typo")
