"""The plugin API: hook specifications every atommic plugin may implement.

This module is the only contract between the core and its plugins. It imports nothing but
pluggy at run time, so a plugin's ``plugin.py`` can import :data:`hookimpl` cheaply.

A plugin is an installed distribution with an entry point in the group ``atommic``::

    [project.entry-points.atommic]
    myplugin = "my_package.plugin"

whose target module holds functions decorated with ``@atommic_core.hookimpl``. A hookimpl
whose name matches no hookspec (a typo) makes its plugin fail to load, with a suggestion.

Registration hooks may pass a lazy reference ``"package.module:Class"`` wherever they pass a
class (or params dataclass): the host stores the string and imports it the first time the
entry is used, so listing names (``python -m atommic_core list``) never imports torch or
Lightning. A malformed string fails the plugin at registration; one that cannot be imported
raises a one-line :class:`~atommic_core.errors.PluginError` naming the plugin when used.

A collection that needs hooks of its own (``atommic_register_masks``, ...) writes them in its
own hookspecs module with :data:`hookspec` and names that module in its entry-point module:
``ATOMMIC_HOOKSPECS = ["atommic_rec.hookspecs"]``; the manager adds those specs before it
checks hook names. Hooks evolve only by adding arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - types only
    from atommic_core.pretrained import PretrainedModelInfo

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "atommic"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Registration hooks: called lazily, the first time a registry is read.
# --------------------------------------------------------------------------------------------


@hookspec
def atommic_register_models(register: Callable[[str, type | str], None]) -> None:
    """Register model classes under names that configs can use as ``model.model_name``.

    Args:
        register: Call ``register(name, model_cls)`` once per model; ``model_cls`` must be a
            subclass of :class:`atommic_core.ModelPT`, or a lazy reference to one
            (``register("VarNet", "atommic_rec.models:VarNet")``, checked when imported).
            The host checks the name and rejects duplicates with a
            :class:`~atommic_core.errors.PluginError`. If the hook raises, the plugin's
            entries are dropped with a ``PluginLoadWarning`` (strict mode raises).

    Called:
        Once per process, the first time the model registry is read, for every plugin in
        registration order (the core first, then entry points sorted by name).
    """


@hookspec
def atommic_register_optimizers(register: Callable[[str, type | str, type | str], None]) -> None:
    """Register optimizers under names usable as ``model.optim.name``.

    Args:
        register: Call ``register(name, optimizer_cls, params_dataclass)``; the dataclass lists
            the optimizer's keyword arguments with their defaults (``lr`` required). Either
            may be a lazy reference (``"torch.optim:AdamW"``).

    Called:
        Once per process, the first time the optimizer registry is read, in plugin order.
    """


@hookspec
def atommic_register_schedulers(register: Callable[[str, type | str, type | str], None]) -> None:
    """Register learning-rate schedulers under names usable as ``model.optim.sched.name``.

    Args:
        register: Call ``register(name, scheduler_cls, params_dataclass)``; the dataclass lists
            the scheduler's keyword arguments with their defaults. Either may be a lazy
            reference (``"torch.optim.lr_scheduler:StepLR"``).

    Called:
        Once per process, the first time the scheduler registry is read, in plugin order.
    """


@hookspec
def atommic_register_pretrained(register: Callable[[PretrainedModelInfo], None]) -> None:
    """Offer pretrained models (catalogue entries) that ``from_pretrained(name)`` can fetch.

    Args:
        register: Call ``register(info)`` once per :class:`atommic_core.PretrainedModelInfo`
            (name, description, location as a local path, ``file://`` or ``https://`` URL,
            model class or its dotted path, and the sha256 ``from_pretrained`` verifies). The
            host rejects a name another plugin already offers with a ``PluginError``.

    Called:
        Each time the catalogue is read (``list_available_models``, ``from_pretrained``,
        ``python -m atommic_core list pretrained``), for every plugin in registration order,
        after :func:`atommic_pretrained_models` of the same plugin.
    """


# --------------------------------------------------------------------------------------------
# Discovery hooks: return values the host merges.
# --------------------------------------------------------------------------------------------


@hookspec
def atommic_pretrained_models() -> list[PretrainedModelInfo]:
    """Offer pretrained models that ``ModelPT.from_pretrained(name)`` can fetch.

    Returns:
        A list of :class:`atommic_core.PretrainedModelInfo` entries (name, description,
        location as a local path, ``file://`` or ``https://`` URL, and the model class).

    Called:
        Each time ``list_available_models`` or ``from_pretrained`` runs; results of all
        plugins are concatenated.
    """


@hookspec
def atommic_config_dirs() -> list[str]:
    """Name folders of example YAML configs that the CLI can find by ``--config-name``.

    Returns:
        A list of absolute folder paths.

    Called:
        When the CLI resolves a ``--config-name`` given without ``--config-path``, and by
        ``python -m atommic_core list configs``.
    """


def _spec_names() -> list[str]:
    """Names of every hook this module specifies (used by docs and meta-tests)."""
    return [name for name in globals() if name.startswith("atommic_")]


