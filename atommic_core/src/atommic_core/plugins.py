"""The plugin manager: finds, loads and describes atommic plugins.

Plugins are loaded lazily, once per process, one entry point at a time, so a broken plugin
cannot take the others down. Its failure is recorded, warned about once, and re-raised with
context the first time something needs it. ``ATOMMIC_STRICT_PLUGINS=1`` raises at once.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from atommic_core import hookspecs
from atommic_core.errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginRecord",
    "get_plugin_manager",
    "load_errors",
    "plugin_records",
    "reset_plugin_manager",
]

ENTRY_POINT_GROUP = "atommic"
CORE_PLUGIN_NAME = "core"

_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_records: dict[str, PluginRecord] = {}


@dataclass
class PluginRecord:
    """What the manager knows about one plugin, loaded or not."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    error: BaseException | None = None
    hooks: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``"rec" (atommic-rec 0.1.0)``: how errors and listings name the plugin."""
        dist = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f'"{self.name}"{dist}'

    def load_error(self) -> PluginError:
        """The error to raise when something needs this plugin but it failed to load."""
        err = PluginError(f"Error loading plugin {self.label}: {self.error!r}")
        err.__cause__ = self.error
        return err

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form used by ``list plugins --json``."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "hooks": self.hooks,
            "error": None if self.error is None else repr(self.error),
        }


def _strict() -> bool:
    return os.environ.get("ATOMMIC_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


def _core_record() -> PluginRecord:
    try:
        version = metadata.version("atommic-core")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = None
    return PluginRecord(CORE_PLUGIN_NAME, "atommic-core", version, "atommic_core._builtins")


def _load_entry_point(pm: pluggy.PluginManager, ep: metadata.EntryPoint) -> PluginRecord:
    dist = getattr(ep, "dist", None)
    record = PluginRecord(
        name=ep.name,
        distribution=dist.metadata["Name"] if dist is not None else None,
        version=dist.version if dist is not None else None,
        module=ep.value,
    )
    if pm.has_plugin(ep.name) or ep.name in _records:
        record.error = PluginError(
            f"plugin name {ep.name!r} is used by {_records[ep.name].label} and by "
            f"{record.distribution}; rename one entry point in group {ENTRY_POINT_GROUP!r}"
        )
        return record
    try:
        pm.register(ep.load(), name=ep.name)
    except Exception as exc:
        if _strict():
            raise
        record.error = exc
    return record


def _hooks_of(pm: pluggy.PluginManager, name: str) -> list[str]:
    plugin = pm.get_plugin(name)
    if plugin is None:
        return []
    return sorted(c.name for c in pm.get_hookcallers(plugin) or [])


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, building it on first use.

    Returns:
        A ``pluggy.PluginManager`` with the core built-ins and every loadable entry point of
        group ``atommic`` registered.
    """
    global _pm
    with _lock:
        if _pm is not None:
            return _pm
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        from atommic_core import _builtins

        pm.register(_builtins, name=CORE_PLUGIN_NAME)
        _records[CORE_PLUGIN_NAME] = _core_record()
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            record = _load_entry_point(pm, ep)
            key = record.name
            if key in _records:  # a second distribution claimed the same plugin name
                key = f"{record.name}@{record.distribution}"
            _records[key] = record
            if record.error is not None:
                warnings.warn(
                    f"atommic: plugin {record.label} failed to load and is skipped: "
                    f"{record.error!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )
        pm.check_pending()
        for name, record in _records.items():
            record.hooks = _hooks_of(pm, name)
        _pm = pm
        return pm


def plugin_records() -> list[PluginRecord]:
    """Every plugin the manager saw, loaded or failed, core first."""
    get_plugin_manager()
    return list(_records.values())


def load_errors() -> list[PluginRecord]:
    """Plugins that failed to load (empty when all is well)."""
    return [r for r in plugin_records() if r.error is not None]


def record_for(plugin_name: str) -> PluginRecord | None:
    """The record of a loaded plugin by its registered name."""
    get_plugin_manager()
    return _records.get(plugin_name)


def register_plugin(plugin: object, name: str, distribution: str | None = None) -> None:
    """Register an in-process plugin object (tests, notebooks) and reset the registries.

    Args:
        plugin: A module or object with ``@hookimpl`` functions.
        name: Unique plugin name.
        distribution: Optional distribution name to report in listings and errors.
    """
    pm = get_plugin_manager()
    with _lock:
        pm.register(plugin, name=name)
        _records[name] = PluginRecord(name, distribution, None, repr(plugin))
        _records[name].hooks = _hooks_of(pm, name)
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
