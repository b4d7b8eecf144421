"""The plugin manager: finds, loads and describes atommic plugins.

Plugins load lazily, once per process, one entry point at a time, so a broken plugin cannot
take the others down: its failure is recorded, warned about once (:class:`PluginLoadWarning`)
and re-raised with context when something needs it. ``ATOMMIC_STRICT_PLUGINS=1`` raises at once.
"""

from __future__ import annotations

import os
import threading
import warnings
from importlib import import_module, metadata
from typing import Any

import pluggy

from atommic_core import hookspecs
from atommic_core._pluginlib import PluginRecord, hook_names, reject_unknown_hooks
from atommic_core.errors import PluginError, PluginLoadWarning

__all__ = [
    "ENTRY_POINT_GROUP", "PluginRecord", "call_each", "get_plugin_manager", "load_errors",
    "mark_failed", "plugin_records", "record_for", "register_plugin", "require_plugin",
    "reset_plugin_manager",
]

ENTRY_POINT_GROUP = "atommic"
CORE_PLUGIN_NAME = "core"
STRICT_ENV = "ATOMMIC_STRICT_PLUGINS"

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_records: dict[str, PluginRecord] = {}


def mark_failed(plugin_name: str, exc: BaseException, during: str = "import") -> None:
    """Record that a plugin failed, warn once, or raise at once under ``ATOMMIC_STRICT_PLUGINS``.

    Args:
        plugin_name: Registered name of the plugin (its entry-point name).
        exc: The original exception; kept as ``__cause__`` of later errors.
        during: What the plugin was doing (``"import"`` or a hook name), for the warning.
    """
    record = _records.setdefault(plugin_name, PluginRecord(plugin_name, None, None, "?"))
    if record.error is not None:
        return
    record.error = exc
    if os.environ.get(STRICT_ENV, "").lower() in {"1", "true", "yes"}:
        raise record.load_error()
    warnings.warn(f"atommic: plugin {record.label} failed ({during}) and is skipped: {exc!r}. "
                  f"Set {STRICT_ENV}=1 to raise instead.", PluginLoadWarning, stacklevel=3)


def _load_entry_point(pm: pluggy.PluginManager, ep: metadata.EntryPoint) -> None:
    dist = getattr(ep, "dist", None)
    record = PluginRecord(ep.name, dist.name if dist else None, dist.version if dist else None,
                          ep.value)
    key = ep.name if ep.name not in _records else f"{ep.name}@{record.distribution}"
    _records[key] = record
    if key != ep.name:  # two distributions claim one plugin name: keep the first
        mark_failed(key, PluginError(
            f"plugin name {ep.name!r} is claimed by {_records[ep.name].label} and by "
            f"{record.label}; rename one entry point of group 'atommic'"), during="name check")
        return
    try:
        module = ep.load()
        for spec in getattr(module, "ATOMMIC_HOOKSPECS", ()):  # a collection's own hooks
            pm.add_hookspecs(import_module(spec) if isinstance(spec, str) else spec)
        pm.register(module, name=ep.name)
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything; isolate it
        mark_failed(ep.name, exc)


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, building it on first use.

    Returns:
        A ``pluggy.PluginManager`` with the core built-ins and every loadable entry point of
        group ``atommic`` registered (sorted by name); failed ones are in :func:`load_errors`.
    """
    global _pm
    with _lock:
        if _pm is not None:
            return _pm
        try:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            from atommic_core import __version__, _builtins

            pm.register(_builtins, name=CORE_PLUGIN_NAME)
            _records[CORE_PLUGIN_NAME] = PluginRecord(CORE_PLUGIN_NAME, "atommic-core",
                                                      __version__, _builtins.__name__)
            for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                _load_entry_point(pm, ep)
            for name, exc in reject_unknown_hooks(pm):
                mark_failed(name, exc, during="hook check")
        except BaseException:
            _records.clear()
            raise
        for name, record in _records.items():
            record.hooks = hook_names(pm, name)
        _pm = pm
        return pm


def plugin_records() -> list[PluginRecord]:
    """Every plugin the manager saw, loaded or failed, core first."""
    get_plugin_manager()
    return list(_records.values())


def load_errors() -> list[PluginRecord]:
    """Plugins that failed to load or to register (empty when all is well)."""
    return [r for r in plugin_records() if r.error is not None]


def record_for(plugin_name: str) -> PluginRecord | None:
    """The record of a plugin by its registered name, or None."""
    get_plugin_manager()
    return _records.get(plugin_name)


def require_plugin(name: str) -> PluginRecord:
    """The record of a working plugin, by plugin or distribution name.

    Raises:
        PluginError: ``Error loading plugin "x" (dist ver): ...`` if it failed (the original
            exception is ``__cause__``), or a list of installed plugins if none matches.
    """
    for record in plugin_records():
        if name in (record.name, record.distribution):
            if record.error is not None:
                raise record.load_error()
            return record
    installed = ", ".join(f"{r.name} ({r.distribution})" for r in plugin_records())
    raise PluginError(f"no atommic plugin {name!r} is installed; installed: {installed}; "
                      f"hint: pip install {name}")


def call_each(hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call one hook plugin by plugin, isolating failures like import errors.

    Args:
        hook: Hook name, e.g. ``"atommic_config_dirs"``.
        **kwargs: The hook's arguments.

    Returns:
        ``(plugin_name, result)`` pairs in registration order (the core first); a plugin that
        raised is left out, recorded in :func:`load_errors` and warned about once.
    """
    results = []
    for impl in getattr(get_plugin_manager().hook, hook).get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        args = {a: kwargs[a] for a in impl.argnames}  # an impl may take fewer than the spec
        try:
            results.append((impl.plugin_name, impl.function(**args)))
        except Exception as exc:  # noqa: BLE001 - isolate the plugin, like an import error
            mark_failed(impl.plugin_name, exc, during=hook)
    return results


def register_plugin(plugin: object, name: str, distribution: str | None = None) -> None:
    """Register an in-process plugin object (tests, notebooks) and reset the registries.

    Args:
        plugin: A module or object with ``@hookimpl`` functions.
        name: Unique plugin name.
        distribution: Optional distribution name to report in listings and errors.

    Raises:
        PluginError: if ``name`` is taken or the plugin implements an unknown hook.
    """
    pm = get_plugin_manager()
    with _lock:
        if name in _records:
            raise PluginError(f"plugin name {name!r} is already used by {_records[name].label}")
        pm.register(plugin, name=name)
        bad = reject_unknown_hooks(pm)
        if bad:
            raise PluginError(f"plugin {name!r} rejected: {bad[0][1]}")
        _records[name] = PluginRecord(name, distribution, None, getattr(plugin, "__name__", "?"))
        _records[name].hooks = hook_names(pm, name)
    from atommic_core import registry

    registry.reset_all()


def reset_plugin_manager() -> None:
    """Forget every plugin and registry entry; the next use reloads them (for tests)."""
    global _pm
    with _lock:
        _pm = None
        _records.clear()
    from atommic_core import registry

    registry.reset_all()
