"""The optimizer registry: built-ins, params dataclasses, get_optimizer, run-time additions."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass

import pytest
import torch

from atommic_core import hookimpl, plugins
from atommic_core.errors import ConfigError, PluginError, UnknownNameError
from atommic_core.optim.lion import Lion
from atommic_core.optim.novograd import Novograd
from atommic_core.optim.optimizers import (
    AVAILABLE_OPTIMIZERS,
    get_optimizer,
    get_optimizer_params,
    register_optimizer,
)

BUILTINS = {
    "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
    "adadelta": torch.optim.Adadelta, "adamax": torch.optim.Adamax,
    "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
    "rprop": torch.optim.Rprop, "novograd": Novograd, "lion": Lion,
}


@pytest.fixture
def isolated_runtime(monkeypatch):
    """Run-time registrations made in the test are forgotten afterwards."""
    monkeypatch.setattr(AVAILABLE_OPTIMIZERS, "_runtime", {})
    AVAILABLE_OPTIMIZERS.reset()
    yield AVAILABLE_OPTIMIZERS
    monkeypatch.undo()
    AVAILABLE_OPTIMIZERS.reset()


def _params():
    return [torch.nn.Parameter(torch.ones(2))]


def test_builtins_are_registered_by_the_core():
    for name, cls in BUILTINS.items():
        entry = AVAILABLE_OPTIMIZERS.entry(name)
        assert entry.obj is cls
        assert entry.plugin == "core"
        assert dataclasses.is_dataclass(entry.params)


def test_iterating_and_printing_look_like_the_seed_dict():
    assert set(BUILTINS) <= set(AVAILABLE_OPTIMIZERS)
    assert all(name == name.lower() for name in AVAILABLE_OPTIMIZERS)
    as_dict = dict(AVAILABLE_OPTIMIZERS.items())
    assert as_dict["adam"] is torch.optim.Adam
    assert repr(AVAILABLE_OPTIMIZERS).startswith("{'sgd': <class 'torch.optim.sgd.SGD'>")
    assert "'lion': <class 'atommic_core.optim.lion.Lion'>" in repr(AVAILABLE_OPTIMIZERS)


def test_lookup_ignores_case():
    assert AVAILABLE_OPTIMIZERS["AdamW"] is torch.optim.AdamW
    assert isinstance(get_optimizer("NovoGrad", lr=0.1)(_params()), Novograd)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_lr_is_required_by_every_builtin(name):
    lr = next(f for f in dataclasses.fields(get_optimizer_params(name)) if f.name == "lr")
    assert lr.default is dataclasses.MISSING
    with pytest.raises(ConfigError, match=r"needs lr.*model\.optim\.lr"):
        get_optimizer(name)


TORCH_NAMES = [n for n, c in BUILTINS.items() if c.__module__.startswith("torch")]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_dataclass_defaults_match_the_torch_signature(name):
    signature = inspect.signature(BUILTINS[name].__init__).parameters
    for f in dataclasses.fields(get_optimizer_params(name)):
        assert f.name in signature, f"{name}: {f.name} is not an argument of torch"
        if f.name != "lr":
            assert f.default == signature[f.name].default, f"{name}.{f.name}"


@pytest.mark.parametrize("cls", [Novograd, Lion])
def test_own_dataclass_defaults_match_the_class(cls):
    name = cls.__name__.lower()
    signature = inspect.signature(cls.__init__).parameters
    fields = dataclasses.fields(get_optimizer_params(name))
    assert [f.name for f in fields] == [p for p in signature if p not in ("self", "params")]
    for f in fields[1:]:
        assert f.default == signature[f.name].default


def test_get_optimizer_binds_arguments_and_converts_yaml_lists():
    factory = get_optimizer("adam", lr=0.01, betas=[0.8, 0.9], weight_decay=1e-4)
    assert isinstance(factory, functools.partial)
    opt = factory(_params())
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (0.01, (0.8, 0.9), 1e-4)
    assert group["eps"] == 1e-8  # default from the dataclass


def test_unknown_argument_names_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        get_optimizer("sgd", lr=0.1, momentun=0.9)
    msg = str(err.value)
    assert "'momentun'" in msg and "momentum" in msg and "nesterov" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("value", ["1e-3", True])
def test_text_or_bool_where_a_number_is_expected(value):
    with pytest.raises(ConfigError, match=r"model\.optim\.lr expected a number"):
        get_optimizer("adam", lr=value)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="'adamw'"):
        get_optimizer("adamww", lr=0.1)


def test_register_optimizer_at_run_time_and_reject_duplicates(isolated_runtime):
    @dataclass
    class MyParams:
        lr: float
        momentum: float = 0.5

    class MySGD(torch.optim.SGD):
        pass

    register_optimizer("my_sgd", MySGD, MyParams)
    opt = get_optimizer("my_sgd", lr=0.2)(_params())
    assert isinstance(opt, MySGD) and opt.param_groups[0]["momentum"] == 0.5
    assert AVAILABLE_OPTIMIZERS.entry("my_sgd").plugin == "runtime"
    with pytest.raises(PluginError, match="registered twice"):
        register_optimizer("my_sgd", MySGD, MyParams)
    with pytest.raises(PluginError, match="'core'"):
        register_optimizer("adam", MySGD, MyParams)


def test_plugin_optimizer_is_listed_with_its_plugin(fresh_plugins):
    @dataclass
    class P:
        lr: float

    class Plugin:
        @hookimpl
        def atommic_register_optimizers(self, register):
            register("throwaway_opt", torch.optim.SGD, P)

    plugins.register_plugin(Plugin(), "throwaway", distribution="throwaway-dist")
    entry = AVAILABLE_OPTIMIZERS.entry("throwaway_opt")
    assert (entry.plugin, entry.distribution) == ("throwaway", "throwaway-dist")
    assert "throwaway_opt" in list(AVAILABLE_OPTIMIZERS)
