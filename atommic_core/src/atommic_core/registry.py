"""Name -> class registries filled by plugin hooks (models, optimizers, schedulers).

One mechanism serves every kind of entry: a registry asks each plugin's hookimpl in turn to
call ``register``; the host validates names, rejects duplicates loudly and remembers which
plugin and distribution provided each entry, so ``list`` and error messages can say so.
"""

from __future__ import annotations

import difflib
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from atommic_core.errors import PluginError, UnknownNameError
from atommic_core.lazy_ref import describe, is_reference, parse_reference, resolve_reference

__all__ = ["Entry", "Registry", "models", "optimizers", "reset_all", "schedulers"]

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_ALL: list[weakref.ref[Registry]] = []  # weak: registries made in tests may go away


class Entry:
    """One registered object and where it came from.

    ``obj`` and ``params`` may have been registered as lazy references
    (``"package.module:Class"``, see :mod:`atommic_core.lazy_ref`); reading the attribute
    imports them once and runs the registry's check on what was imported.

    Attributes:
        name: The name configs use (``model.model_name``, ``model.optim.name``, ...).
        plugin: Name of the plugin that registered it (``"core"``, ``"rec"``, ``"runtime"``).
        distribution: Its distribution (``"atommic-rec"``), None for in-process plugins.
        kind: What the registry holds ("model", "optimizer", ...), for messages.
    """

    def __init__(self, name: str, obj: Any, params: Any, plugin: str,
                 distribution: str | None, kind: str = "entry",
                 check: Callable[[str, Any, Any], None] | None = None) -> None:
        self.name = name
        self.target = obj  # a class or a lazy reference string
        self.params_target = params
        self.plugin = plugin
        self.distribution = distribution
        self.kind = kind
        self._check = check
        self._resolved: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def lazy(self) -> bool:
        """True while the entry still holds a lazy reference that was not imported."""
        return self._resolved is None and (is_reference(self.target)
                                           or is_reference(self.params_target))

    @property
    def obj(self) -> Any:
        """The registered class (imported on first access if registered lazily)."""
        return self._resolve()[0]

    @property
    def params(self) -> Any:
        """The params dataclass of an optimizer or scheduler; None for models."""
        return self._resolve()[1]

    @property
    def qualname(self) -> str:
        """``module.Class`` or the lazy reference string, without importing anything."""
        return describe(self.target)

    def validate(self) -> None:
        """Check the reference syntax now, and the objects too when nothing is lazy."""
        for value in (self.target, self.params_target):
            if is_reference(value):
                try:
                    parse_reference(value)
                except ValueError as exc:
                    raise PluginError(f"plugin {self.plugin!r} registered the {self.kind} "
                                      f"{self.name!r}: {exc}") from None
        if not self.lazy and self._check is not None:
            self._check(self.name, self.target, self.params_target)

    def _resolve(self) -> tuple[Any, Any]:
        with self._lock:
            if self._resolved is None:
                obj, params = (self._import(v) for v in (self.target, self.params_target))
                if self._check is not None and self.lazy:
                    try:
                        self._check(self.name, obj, params)
                    except PluginError as exc:
                        raise PluginError(f"{self._where()}: {exc}") from None
                self._resolved = (obj, params)
            return self._resolved

    def _import(self, value: Any) -> Any:
        if not is_reference(value):
            return value
        try:
            return resolve_reference(value)
        except Exception as exc:  # any import-time error of the plugin's module
            cause = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            raise PluginError(
                f"{self._where()} registered the {self.kind} {self.name!r} as {value!r}, which "
                f"cannot be imported: {cause}; hint: fix the reference in the plugin's "
                "registration hook or reinstall the plugin") from exc

    def _where(self) -> str:
        dist = f" ({self.distribution})" if self.distribution else ""
        return f"plugin {self.plugin!r}{dist}"

    def __repr__(self) -> str:
        return (f"Entry(name={self.name!r}, obj={describe(self.target)!r}, "
                f"plugin={self.plugin!r}, distribution={self.distribution!r})")


class Registry(Mapping[str, Any]):
    """A lazily filled, read-only mapping ``name -> obj`` with provenance.

    Args:
        kind: Human name of the entries ("model", "optimizer", ...), used in messages.
        hook: Name of the registration hook to call, e.g. ``"atommic_register_models"``.
        check: Optional ``check(name, obj, params)`` raising ``PluginError`` for a bad entry.
        case_sensitive: If False, lookups ignore case (optimizer names are lowercase).

    A collection that adds a hook of its own (say ``atommic_register_masks``) creates its
    registry the same way: ``masks = Registry("mask", "atommic_register_masks")``.

    Example:
        >>> from atommic_core.registry import optimizers
        >>> optimizers["adam"]  # doctest: +SKIP
        <class 'torch.optim.adam.Adam'>
        >>> optimizers.entry("adam").plugin  # doctest: +SKIP
        'core'
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
        _ALL.append(weakref.ref(self))

    # -- loading -------------------------------------------------------------------------
    def _load(self) -> dict[str, Entry]:
        with self._lock:
            if self._entries is not None:
                return self._entries
            from atommic_core import plugins

            pm = plugins.get_plugin_manager()
            entries: dict[str, Entry] = {}
            # registration order: the core first, then entry points sorted by name
            for impl in getattr(pm.hook, self.hook).get_hookimpls():
                if impl.hookwrapper or impl.wrapper:
                    continue
                record = plugins.record_for(impl.plugin_name)
                staged: dict[str, Entry] = {}
                register = self._registrar(staged, impl.plugin_name, record)
                try:
                    impl.function(**{a: register for a in impl.argnames})
                except Exception as exc:  # noqa: BLE001 - isolate the plugin, like an import error
                    plugins.mark_failed(impl.plugin_name, exc, during=self.hook)
                    continue
                for entry in staged.values():  # a clash between two plugins stays loud
                    self._put(entries, entry)
            for entry in self._runtime.values():
                self._put(entries, entry)
            self._entries = entries
            return entries

    def _registrar(self, staged: dict[str, Entry], plugin: str, record: Any) -> Callable:
        dist = record.distribution if record is not None else None

        def register(name: str, obj: Any, params: Any = None) -> None:
            entry = Entry(name, obj, params, plugin, dist, self.kind, self._check)
            self._validate(entry)
            self._put(staged, entry)

        return register

    def _validate(self, entry: Entry) -> None:
        if not isinstance(entry.name, str) or not _NAME_RE.match(entry.name):
            raise PluginError(
                f"plugin {entry.plugin!r} registered the {self.kind} name {entry.name!r}; names "
                "must start with a letter and use only letters, digits, '_', '-' and '.'"
            )
        entry.validate()

    def _put(self, entries: dict[str, Entry], entry: Entry) -> None:
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
            entry = Entry(name, obj, params, plugin, None, self.kind, self._check)
            self._validate(entry)
            self._put(self._load(), entry)
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
        if not close:  # "varnet" vs "VarNet": compare case-insensitively too
            lowered = {n.lower(): n for n in names}
            close = [lowered[m] for m in difflib.get_close_matches(str(name).lower(), lowered, n=3)]
        msg = f"Unknown {self.kind} {name!r}."
        if close:
            msg += f" Did you mean {' or '.join(repr(c) for c in close)}?"
        msg += f" Available: {', '.join(sorted(names)) or '(none)'}."
        failed = plugins.load_errors()
        if failed:  # the name may belong to a plugin that did not load
            msg += " " + " ".join(f"{r.load_error()}." for r in failed)
        elif self.kind in ("model", "optimizer", "scheduler"):
            msg += f" Hint: python -m atommic_core list {self.kind}s."
        err = UnknownNameError(msg, name=name, available=sorted(names), suggestions=close)
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
        return repr({e.name: e.qualname if e.lazy else e.obj for e in self._load().values()})


def _check_model(name: str, obj: Any, params: Any) -> None:
    # No import of ModelPT here (that would close the cycle registry -> modelpt -> optim ->
    # registry and load torch): a class that subclasses ModelPT has already imported it.
    modelpt = sys.modules.get("atommic_core.model.modelpt")
    if modelpt is None or not (isinstance(obj, type) and issubclass(obj, modelpt.ModelPT)):
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
    _ALL[:] = [ref for ref in _ALL if ref() is not None]
    for ref in _ALL:
        reg = ref()
        if reg is not None:
            reg.reset()
