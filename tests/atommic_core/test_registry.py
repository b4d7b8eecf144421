"""Registries: provenance, duplicate names, unknown names with suggestions, validation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from atommic_core import hookimpl, plugins, registry
from atommic_core.errors import PluginError, PluginLoadWarning, UnknownNameError


@dataclass
class Params:
    lr: float = 0.1


class Opt:
    pass


class OtherOpt:
    pass


def _optimizer_plugin(*names: str, cls: type = Opt, params: object = Params) -> object:
    class Plugin:
        @hookimpl
        def atommic_register_optimizers(self, register):
            for name in names:
                register(name, cls, params)

    return Plugin()


def test_collision_names_both_plugins_and_both_distributions(fresh_plugins):
    plugins.register_plugin(_optimizer_plugin("shared"), "alpha", distribution="dist-alpha")
    plugins.register_plugin(_optimizer_plugin("shared", cls=OtherOpt), "beta",
                            distribution="dist-beta")
    with pytest.raises(PluginError) as info:
        registry.optimizers["shared"]
    text = str(info.value)
    for part in ("'shared'", "'alpha'", "dist-alpha", "'beta'", "dist-beta"):
        assert part in text


def test_collision_with_a_builtin_names_the_core(fresh_plugins):
    plugins.register_plugin(_optimizer_plugin("adam"), "mine", distribution="my-dist")
    with pytest.raises(PluginError, match=r"'core' \(atommic-core\).*'mine' \(my-dist\)"):
        registry.optimizers.entries()


def test_unknown_name_lists_available_and_closest(fresh_plugins):
    plugins.register_plugin(_optimizer_plugin("lookahead", "radam_custom"), "extra",
                            distribution="extra-dist")
    with pytest.raises(UnknownNameError) as info:
        registry.optimizers["lookahed"]
    err = info.value
    assert isinstance(err, KeyError)
    assert err.suggestions[0] == "lookahead" and err.name == "lookahed"
    text = str(err)
    assert text.startswith("Unknown optimizer 'lookahed'. Did you mean 'lookahead'")
    assert "Available: " in text and "radam_custom" in text and "adam" in text
    assert sorted(registry.optimizers) == err.available
    assert "\n" not in text


def test_unknown_name_with_no_close_match_still_lists_names(fresh_plugins):
    reg = registry.Registry("widget", "atommic_register_optimizers")
    with pytest.raises(UnknownNameError) as info:
        reg["qqqqqq"]
    assert info.value.suggestions == []
    text = str(info.value)
    assert "Did you mean" not in text and "Available: " in text and "adam, " in text


def test_lookup_tolerates_case_and_mapping_protocol(fresh_plugins):
    plugins.register_plugin(_optimizer_plugin("MixedCase"), "mixed")
    assert registry.optimizers["ADAM"] is registry.optimizers["adam"]  # case-insensitive kind
    models_like = registry.Registry("thing", "atommic_register_optimizers")  # case-sensitive
    assert models_like["mixedcase"] is Opt  # unambiguous case-insensitive fallback
    assert "mixedcase" not in models_like and "MixedCase" in models_like
    assert models_like.get("nope") is None
    assert len(models_like) == len(list(models_like)) == len(models_like.entries())


@pytest.mark.parametrize(
    ("name", "cls", "params", "expected"),
    [
        ("1bad", Opt, Params, "must start with a letter"),
        ("has space", Opt, Params, "must start with a letter"),
        ("notaclass", Opt(), Params, "must be a class"),
        ("badparams", Opt, dict, "params must be a dataclass"),
    ],
)
def test_invalid_registration_fails_only_that_plugin(fresh_plugins, name, cls, params, expected):
    plugins.register_plugin(_optimizer_plugin(name, cls=cls, params=params), "bad")
    plugins.register_plugin(_optimizer_plugin("goodopt"), "good")
    with pytest.warns(PluginLoadWarning, match=expected):
        assert "goodopt" in registry.optimizers
    assert plugins.record_for("bad").error is not None


def test_models_must_subclass_modelpt(fresh_plugins):
    class NotAModel:
        pass

    class Plugin:
        @hookimpl
        def atommic_register_models(self, register):
            register("NotAModel", NotAModel)

    plugins.register_plugin(Plugin(), "m")
    with pytest.warns(PluginLoadWarning, match="subclass of atommic_core.ModelPT"):
        assert "NotAModel" not in registry.models


def test_runtime_registration_survives_reset_and_rejects_duplicates(fresh_plugins):
    reg = registry.Registry("gadget", "atommic_register_optimizers")
    reg.register("mygadget", Opt, Params)
    assert reg.entry("mygadget").plugin == "runtime"
    registry.reset_all()
    assert reg["mygadget"] is Opt
    with pytest.raises(PluginError, match="registered twice"):
        reg.register("mygadget", OtherOpt, Params)
    with pytest.raises(PluginError, match="'core'"):
        reg.register("sgd", OtherOpt, Params)
