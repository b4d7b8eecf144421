"""Name -> class registries filled by plugin hooks (models, optimizers, schedulers).

One mechanism serves every kind of entry: a registry asks each plugin's hookimpl in turn to
call ``register``; the host validates names, rejects duplicates loudly and remembers which
plugin and distribution provided each entry, so ``list`` and error messages can say so.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from atommic_core.errors import PluginError, UnknownNameError

__all__ = ["Entry", "Registry", "models", "optimizers", "reset_all", "schedulers"]

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_ALL: list[Registry] = []


@dataclass(frozen=True)
class Entry:
    """One registered object and where it came from."""

    name: str
    obj: Any
    params: Any  # params dataclass for optimizers/schedulers, None for models
    plugin: str
    distribution: str | None


class Registry(Mapping[str, Any]):
    """A lazily filled, read-only mapping ``name -> obj`` with provenance.

    Args:
        kind: Human name of the entries ("model", "optimizer", ...), used in messages.
        hook: Name of the registration hook to call, e.g. ``"atommic_register_models"``.
        check: Optional ``check(name, obj, params)`` raising ``PluginError`` for a bad entry.
        case_sensitive: If False, lookups ignore case (optimizer names are lowercase).
    """

    def __init__(
        self,
        kind: str,
        hook: str,
        check: Callable[[str, Any, Any], None] | None = None,
        case_sensitive: bool = True,
    ) -> None:
        self.kind = kind
        self.hook = hook
        self._check = check
        self._case_sensitive = case_sensitive
        self._entries: dict[str, Entry] | None = None
        self._runtime: dict[str, Entry] = {}
        self._lock = threading.RLock()
        _ALL.append(self)

    # -- loading -------------------------------------------------------------------------
    def _load(self) -> dict[str, Entry]:
        with self._lock:
            if self._entries is not None:
                return self._entries
            from atommic_core import plugins

            pm = plugins.get_plugin_manager()
            entries: dict[str, Entry] = {}
            caller = getattr(pm.hook, self.hook)
            # pluggy calls the most recently registered impl first; we want core first.
            for impl in reversed(caller.get_hookimpls()):
                record = plugins.record_for(impl.plugin_name)
                dist = record.distribution if record else None

                def register(name: str, obj: Any, params: Any = None, _p=impl.plugin_name,
                             _d=dist) -> None:
                    self._add(entries, Entry(name, obj, params, _p, _d))

                try:
                    impl.function(register=register)
                except PluginError:
                    raise
                except Exception as exc:
                    label = record.label if record else repr(impl.plugin_name)
                    raise PluginError(
                        f"plugin {label} failed in {self.hook}: {exc!r}"
                    ) from exc
            for entry in self._runtime.values():
                self._add(entries, entry)
            self._entries = entries
            return entries

    def _add(self, entries: dict[str, Entry], entry: Entry) -> None:
        if not isinstance(entry.name, str) or not _NAME_RE.match(entry.name):
            raise PluginError(
                f"plugin {entry.plugin!r} registered the {self.kind} name {entry.name!r}; names "
                "must start with a letter and use only letters, digits, '_', '-' and '.'"
            )
        if self._check is not None:
            self._check(entry.name, entry.obj, entry.params)
        key = self._key(entry.name)
        if key in entries:
            old = entries[key]
            raise PluginError(
                f"{self.kind} {entry.name!r} is registered twice: by plugin {old.plugin!r} "
                f"({old.distribution}) and by plugin {entry.plugin!r} ({entry.distribution}); "
                "uninstall one of them or rename the entry"
            )
        entries[key] = entry

    def _key(self, name: str) -> str:
        return name if self._case_sensitive else name.lower()

    def reset(self) -> None:
        """Forget loaded entries (runtime registrations are kept); the next read reloads."""
        with self._lock:
            self._entries = None

    # -- public API ----------------------------------------------------------------------
    def register(self, name: str, obj: Any, params: Any = None, plugin: str = "runtime") -> None:
        """Add an entry at run time (e.g. from a notebook); duplicates raise ``PluginError``."""
        with self._lock:
            entry = Entry(name, obj, params, plugin, None)
            self._add(self._load(), entry)
            self._runtime[self._key(name)] = entry

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` for ``name``, or ``UnknownNameError`` with suggestions."""
        entries = self._load()
        found = entries.get(self._key(name)) if isinstance(name, str) else None
        if found is None and isinstance(name, str):
            # tolerate case differences for every kind, but only if unambiguous
            matches = [e for k, e in entries.items() if k.lower() == name.lower()]
            found = matches[0] if len(matches) == 1 else None
        if found is not None:
            return found
        raise self._unknown(name, [e.name for e in entries.values()])

    def _unknown(self, name: Any, names: list[str]) -> UnknownNameError:
        from atommic_core import plugins

        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        if not close:
            lowered = {n.lower(): n for n in names}
            close = [lowered[m] for m in difflib.get_close_matches(str(name).lower(), lowered, n=3)]
        msg = f"Unknown {self.kind} {name!r}."
        if close:
            msg += f" Did you mean {' or '.join(repr(c) for c in close)}?"
        msg += f" Available: {', '.join(sorted(names)) or '(none)'}."
        failed = plugins.load_errors()
        if failed:
            msg += " Plugins that failed to load: " + "; ".join(
                f"{r.label}: {r.error!r}" for r in failed
            )
        err = UnknownNameError(msg)
        if failed:
            err.__cause__ = failed[0].error
        return err

    def __getitem__(self, name: str) -> Any:
        return self.entry(name).obj

    def __iter__(self) -> Iterator[str]:
        return iter([e.name for e in self._load().values()])

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._load()

    def entries(self) -> list[Entry]:
        """All entries in registration order."""
        return list(self._load().values())

    def __repr__(self) -> str:
        return repr({e.name: e.obj for e in self._load().values()})


def _check_model(name: str, obj: Any, params: Any) -> None:
    from atommic_core.model.modelpt import ModelPT

    if not (isinstance(obj, type) and issubclass(obj, ModelPT)):
        raise PluginError(f"model {name!r} must be a subclass of atommic_core.ModelPT, got {obj!r}")


def _check_with_params(kind: str) -> Callable[[str, Any, Any], None]:
    def check(name: str, obj: Any, params: Any) -> None:
        import dataclasses

        if not isinstance(obj, type):
            raise PluginError(f"{kind} {name!r} must be a class, got {obj!r}")
        if params is not None and not dataclasses.is_dataclass(params):
            raise PluginError(f"{kind} {name!r}: params must be a dataclass, got {params!r}")

    return check


models = Registry("model", "atommic_register_models", check=_check_model)
optimizers = Registry("optimizer", "atommic_register_optimizers",
                      _check_with_params("optimizer"), case_sensitive=False)
schedulers = Registry("scheduler", "atommic_register_schedulers", _check_with_params("scheduler"))


def reset_all() -> None:
    """Reset every registry (used when plugins change, e.g. in tests)."""
    for reg in _ALL:
        reg.reset()
