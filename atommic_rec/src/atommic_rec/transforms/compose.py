"""``Compose``, the transform registry and :func:`build_transforms` for YAML lists.

A transform is any callable ``sample_dict -> sample_dict``. YAML lists name them::

    transforms:
      - {name: crop, size: [128, 128]}
      - {name: mask, mask_args: {type: random1d, accelerations: [4], center_fractions: [0.08]}}
      - {name: normalize, method: max}
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from atommic_core.errors import ConfigError, UnknownNameError

__all__ = ["TRANSFORMS", "Compose", "build_transforms", "register_transform"]

Sample = dict[str, Any]
TRANSFORMS: dict[str, type] = {}


def register_transform(name: str, cls: type) -> type:
    """Make ``cls`` available to :func:`build_transforms` as ``{name: <name>, ...}``.

    Args:
        name: Registry name used in YAML.
        cls: A class whose instances are callables ``sample -> sample``.

    Returns:
        ``cls`` (so it can be used as a decorator helper).
    """
    if name in TRANSFORMS:
        raise ValueError(f"transform {name!r} is already registered as "
                         f"{TRANSFORMS[name].__name__}")
    TRANSFORMS[name] = cls
    return cls


class Compose:
    """Apply transforms in order.

    Args:
        transforms: Callables ``sample -> sample``.
    """

    def __init__(self, transforms: Iterable[Callable[[Sample], Sample]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample) -> Sample:
        """Run every transform on ``sample`` (a dict) and return the result."""
        for transform in self.transforms:
            sample = transform(sample)
        return sample

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, index: int) -> Callable[[Sample], Sample]:
        return self.transforms[index]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(t) for t in self.transforms)
        return f"Compose([\n  {inner}\n])"


def build_transforms(cfg_list: Iterable[Mapping[str, Any] | Callable] | None,
                     defaults: Mapping[str, Any] | None = None) -> Compose:
    """Build a :class:`Compose` from a list of ``{name: ..., **kwargs}`` dicts.

    Args:
        cfg_list: Dicts (or DictConfigs) with a ``name`` key, or ready callables.
        defaults: Keyword values offered to every transform that accepts them and did not set
            them, e.g. ``{"fft_centered": True, "fft_normalization": "ortho"}``.

    Returns:
        The :class:`Compose`.
    """
    defaults = dict(defaults or {})
    return Compose(_build_one(item, defaults) for item in (cfg_list or []))


def _build_one(item: Mapping[str, Any] | Callable, defaults: dict[str, Any]) -> Callable:
    if callable(item) and not isinstance(item, Mapping):
        return item
    kwargs = {k: _plain(v) for k, v in dict(item.items()).items()}
    name = kwargs.pop("name", None)
    cls = TRANSFORMS.get(str(name))
    if cls is None:
        close = difflib.get_close_matches(str(name), TRANSFORMS, n=2)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(f"Unknown transform {name!r}.{hint} "
                               f"Available: {', '.join(sorted(TRANSFORMS))}.")
    params = inspect.signature(cls).parameters
    kwargs = {**{k: v for k, v in defaults.items() if k in params}, **kwargs}
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"transform {name!r}: {exc}; expected keys: name, "
                          f"{', '.join(params)}") from None
    return cls(**kwargs)


def _plain(value: Any) -> Any:
    """OmegaConf containers -> plain Python (transforms keep no config objects)."""
    try:
        from omegaconf import Container, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a core dependency
        return value
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value
