"""Check a config value against a type annotation and explain a mismatch in one line."""

from __future__ import annotations

import collections.abc
import datetime
import types
import typing
from typing import Any

__all__ = ["describe", "matches", "suggest"]

_NoneType = type(None)


def _origin(annotation: Any) -> Any:
    return typing.get_origin(annotation)


def matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` (a plain YAML value) fits ``annotation``.

    Unknown or exotic annotations (callables, classes from other libraries) accept anything:
    the check is meant to catch ``max_epochs: ten``, not to re-implement a type system.

    Args:
        value: A value from a composed config (``int``, ``float``, ``str``, list, dict, None).
        annotation: A type hint, e.g. ``int | None`` or ``Union[str, list[int]]``.

    Returns:
        False only if the value certainly does not fit.
    """
    if annotation is Any or annotation is typing.Any:
        return True
    origin = _origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is _NoneType or annotation is None:
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation is datetime.timedelta:
        return isinstance(value, (str, dict, datetime.timedelta))
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        return isinstance(value, (list, tuple))
    if origin in (dict, collections.abc.Mapping) or annotation is dict:
        return isinstance(value, collections.abc.Mapping)
    if annotation in (list, tuple):
        return isinstance(value, (list, tuple))
    return True


def describe(annotation: Any) -> str:
    """A short human spelling of an annotation (``int or None``)."""
    origin = _origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in typing.get_args(annotation)))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    if annotation is _NoneType or annotation is None:
        return "None"
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        return "list"
    if origin in (dict, collections.abc.Mapping):
        return "dict"
    return getattr(annotation, "__name__", str(annotation))


def suggest(name: str, choices: collections.abc.Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for a close match, else an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
