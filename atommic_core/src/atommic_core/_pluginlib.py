"""Helpers of the plugin manager: the per-plugin record and pluggy checks (private)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import pluggy

from atommic_core.errors import PluginError

__all__ = ["PluginRecord", "hook_names", "reject_unknown_hooks"]


@dataclass
class PluginRecord:
    """What the manager knows about one plugin, loaded or failed (``error`` set)."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    error: BaseException | None = None
    hooks: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``"rec" (atommic-rec 0.1.0)``: how errors and listings name the plugin."""
        dist = f" ({self.distribution} {self.version or '?'})" if self.distribution else ""
        return f'"{self.name}"{dist}'

    def load_error(self) -> PluginError:
        """The error to raise when something needs this plugin; ``__cause__`` keeps the trace."""
        err = PluginError(f"Error loading plugin {self.label}: {self.error!r}")
        err.__cause__ = self.error
        return err

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form used by ``list plugins --json``."""
        error = None if self.error is None else repr(self.error)
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "module": self.module, "hooks": self.hooks, "error": error}


def reject_unknown_hooks(pm: pluggy.PluginManager) -> list[tuple[str, PluginError]]:
    """Unregister plugins whose hookimpls match no hookspec (typos) and say which."""
    known = [n for n, c in vars(pm.hook).items() if c.has_spec()]
    bad: list[tuple[str, PluginError]] = []
    for hook_name, caller in list(vars(pm.hook).items()):
        for impl in [] if caller.has_spec() else caller.get_hookimpls():
            if not impl.optionalhook:
                close = difflib.get_close_matches(hook_name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                bad.append((impl.plugin_name, PluginError(f"unknown hook {hook_name!r}{hint}")))
    for name, _ in bad:
        if pm.has_plugin(name):
            pm.unregister(name=name)
    pm.check_pending()
    return bad


def _hooks_of(pm: pluggy.PluginManager, name: str) -> list[str]:
    plugin = pm.get_plugin(name)
    return [] if plugin is None else sorted(c.name for c in pm.get_hookcallers(plugin) or [])


def hook_names(pm: pluggy.PluginManager, name: str) -> list[str]:
    """Sorted names of the hooks the plugin registered as ``name`` implements."""
    plugin = pm.get_plugin(name)
    return [] if plugin is None else sorted(c.name for c in pm.get_hookcallers(plugin) or [])
