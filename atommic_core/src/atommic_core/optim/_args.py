"""Check config arguments against a params dataclass and fill in its defaults.

Optimizers and schedulers share this: the dataclass registered with an entry is the
authority on which keyword arguments exist, which are required and what the defaults are.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any

from atommic_core.errors import ConfigError

__all__ = ["field_names", "resolve_arguments", "to_plain_dict"]


def to_plain_dict(cfg: Any) -> dict[str, Any]:
    """A new plain ``dict`` from a mapping or an OmegaConf ``DictConfig`` (resolved)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg)


def field_names(params_cls: Any) -> list[str]:
    """Names of the init fields of ``params_cls`` (empty when it is ``None``)."""
    if params_cls is None:
        return []
    return [f.name for f in dataclasses.fields(params_cls) if f.init]


def _is_required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _unknown_message(kind: str, name: str, unknown: list[str], valid: list[str]) -> str:
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        if close:
            hints.append(f"{key!r} -> {close[0]!r}?")
    hint = f" Did you mean {', '.join(hints)}" if hints else ""
    return (f"{kind} {name!r} got unknown argument(s) {', '.join(map(repr, unknown))}; "
            f"valid arguments: {', '.join(valid)}.{hint}")


def _check_numbers(kind: str, name: str, params_cls: Any, kwargs: dict[str, Any],
                   where: str) -> None:
    """Reject a string or bool where the dataclass declares a plain ``int``/``float``."""
    try:
        hints = typing.get_type_hints(params_cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: leave checks to the class
        return
    for key, value in kwargs.items():
        if hints.get(key) in (int, float) and (isinstance(value, bool)
                                              or not isinstance(value, (int, float))):
            raise ConfigError(f"{kind} {name!r}: {where}.{key} expected a number, found "
                              f"{type(value).__name__} {value!r}; hint: write it unquoted, "
                              "e.g. 1.0e-3")


def resolve_arguments(kind: str, name: str, params_cls: Any, kwargs: dict[str, Any],
                      where: str) -> dict[str, Any]:
    """Validate ``kwargs`` against ``params_cls`` and return every argument with defaults.

    Args:
        kind: ``"optimizer"`` or ``"scheduler"`` (used in messages).
        name: The registered name (used in messages).
        params_cls: The params dataclass, or ``None`` to pass ``kwargs`` through unchecked.
        kwargs: Arguments from the config.
        where: Config path to name in the hint, e.g. ``"model.optim"``.

    Returns:
        A new dict with one key per dataclass field; lists become tuples where the
        field's default is a tuple (YAML has no tuples).

    Raises:
        ConfigError: For an unknown argument (naming the valid ones), a missing required
            one, or text where a number is expected.
    """
    if params_cls is None:
        return dict(kwargs)
    fields = [f for f in dataclasses.fields(params_cls) if f.init]
    valid = [f.name for f in fields]
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        raise ConfigError(_unknown_message(kind, name, unknown, valid))
    _check_numbers(kind, name, params_cls, kwargs, where)
    missing = [f.name for f in fields if _is_required(f) and kwargs.get(f.name) is None]
    if missing:
        raise ConfigError(
            f"{kind} {name!r} needs {', '.join(missing)}; found none. "
            f"Hint: set {', '.join(f'{where}.{m}' for m in missing)} in the config."
        )
    values = dataclasses.asdict(params_cls(**kwargs))
    for f in fields:
        if isinstance(f.default, tuple) and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    return values
