"""Name -> mask class registry and :func:`create_mask_func` for YAML ``mask_args`` dicts."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from atommic_core.errors import ConfigError, UnknownNameError
from atommic_rec.masks.base import MaskFunc
from atommic_rec.masks.cartesian1d import (
    Equispaced1DMaskFunc,
    Gaussian1DMaskFunc,
    Random1DMaskFunc,
)
from atommic_rec.masks.cartesian2d import (
    Equispaced2DMaskFunc,
    Gaussian2DMaskFunc,
    Poisson2DMaskFunc,
)

__all__ = ["MASK_FUNCS", "create_mask_func", "register_mask_func"]

MASK_FUNCS: dict[str, type[MaskFunc]] = {
    "random1d": Random1DMaskFunc,
    "equispaced1d": Equispaced1DMaskFunc,
    "equispaced2d": Equispaced2DMaskFunc,
    "gaussian1d": Gaussian1DMaskFunc,
    "gaussian2d": Gaussian2DMaskFunc,
    "poisson2d": Poisson2DMaskFunc,
}


def register_mask_func(name: str, cls: type[MaskFunc]) -> None:
    """Make ``cls`` available to :func:`create_mask_func` as ``type: <name>``.

    Args:
        name: Lower-case registry name.
        cls: A :class:`MaskFunc` subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, MaskFunc)):
        raise TypeError(f"mask {name!r}: expected a MaskFunc subclass; found {cls!r}")
    if name in MASK_FUNCS:
        raise ValueError(f"mask {name!r} is already registered as {MASK_FUNCS[name].__name__}")
    MASK_FUNCS[name] = cls


def create_mask_func(cfg: Mapping[str, Any] | None) -> MaskFunc | None:
    """Build a mask function from a config dict.

    Args:
        cfg: e.g. ``{"type": "random1d", "accelerations": [4], "center_fractions": [0.08]}``;
            other keys are passed to the class (``partial_fourier``, ``std``, ``slope``).
            ``None`` or ``type: none`` gives ``None`` (no undersampling / mask from file).

    Returns:
        A :class:`MaskFunc` or None.
    """
    if cfg is None:
        return None
    kwargs = dict(cfg.items())
    kind = kwargs.pop("type", None)
    if kind is None:
        raise ConfigError(f"mask config: expected a 'type' key ({', '.join(MASK_FUNCS)}); "
                          f"found keys {sorted(kwargs)}")
    if str(kind).lower() == "none":
        return None
    cls = MASK_FUNCS.get(str(kind).lower())
    if cls is None:
        close = difflib.get_close_matches(str(kind).lower(), MASK_FUNCS, n=2)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(f"Unknown mask type {kind!r}.{hint} "
                               f"Available: {', '.join(sorted(MASK_FUNCS))}.")
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        params = ", ".join(inspect.signature(cls).parameters)
        raise ConfigError(f"mask {kind!r}: {exc}; expected keys: type, {params}") from None
    return cls(**kwargs)
