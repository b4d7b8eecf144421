"""Lazy references ``"package.module:Class"``: registry entries imported on first use.

A registration hook may pass such a string instead of a class, so that reading names
(``python -m atommic_core list models``) never imports torch or Lightning; the class is
imported the first time a run needs it. Only this module knows the string's grammar.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["describe", "is_reference", "parse_reference", "resolve_reference"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_REF_RE = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*$")


def is_reference(value: Any) -> bool:
    """True when ``value`` is a string, i.e. meant as a lazy reference (maybe malformed)."""
    return isinstance(value, str)


def parse_reference(ref: str) -> tuple[str, str]:
    """Split ``"package.module:Class"`` into ``("package.module", "Class")``.

    Raises:
        ValueError: ``expected 'package.module:Class', found '...'`` for any other string.
    """
    if not isinstance(ref, str) or not _REF_RE.match(ref):
        raise ValueError(f"expected a class or a lazy reference 'package.module:Class', "
                         f"found {ref!r}")
    module, _, attr = ref.partition(":")
    return module, attr


def resolve_reference(ref: str) -> Any:
    """Import the module of ``ref`` and return the named attribute (dotted for nested classes).

    Raises:
        ValueError: For a malformed reference.
        ImportError: When the module (or something it imports) cannot be imported.
        AttributeError: When the module has no such attribute.
    """
    module_name, attr = parse_reference(ref)
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def describe(value: Any) -> str:
    """``module.Class`` of a class, the string itself for a lazy reference (never imports)."""
    if is_reference(value):
        return value
    if value is None:
        return ""
    module = getattr(value, "__module__", "?")
    return f"{module}.{getattr(value, '__qualname__', value)}"
