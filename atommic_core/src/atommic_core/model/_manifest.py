"""What an archive records about the code it needs, and resolving that code on restore.

The manifest names every installed distribution whose classes the model is built from
(found by walking ``model.modules()`` and each class's MRO), so restoring in an environment
without, say, ``atommic-rec`` fails with ``pip install atommic-rec`` instead of an
``ImportError`` deep inside the config. The model class comes from the config's ``target``:
a dotted path imported from an installed package, never code from the archive.
"""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from importlib import metadata
from typing import Any

from atommic_core.errors import AtommicError

__all__ = ["MissingDistributionError", "build_manifest", "check_distributions",
           "class_target", "resolve_target"]


class MissingDistributionError(AtommicError, ImportError):
    """The archive needs a distribution that is not installed."""


@functools.lru_cache(maxsize=1)
def _package_map() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _distribution_of(cls: type) -> str | None:
    top = cls.__module__.split(".")[0]
    if top in ("builtins", "__main__"):
        return None
    dists = _package_map().get(top)
    return dists[0] if dists else None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def class_target(cls: type) -> str:
    """The dotted path stored as ``target`` for a class, e.g. ``"atommic_rec.models.VarNet"``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def build_manifest(model: Any, format_name: str, format_version: int) -> dict[str, Any]:
    """The manifest fields of an archive for ``model`` (checksums are added by the writer).

    Args:
        model: The ``nn.Module`` being saved.
        format_name: Archive format name.
        format_version: Archive format version.

    Returns:
        ``{"format", "format_version", "atommic_core_version", "target", "distributions",
        "parameters"}`` where ``distributions`` maps distribution name to installed version
        and ``parameters`` holds ``total`` and ``trainable`` counts (read by ``info``
        without loading the weights).
    """
    seen: set[type] = set()
    dists: dict[str, str | None] = {}
    for module in model.modules():
        for cls in type(module).__mro__:
            if cls in seen:
                continue
            seen.add(cls)
            dist = _distribution_of(cls)
            if dist is not None and dist not in dists:
                dists[dist] = _version(dist)
    from atommic_core import __version__

    return {
        "format": format_name,
        "format_version": format_version,
        "atommic_core_version": __version__,
        "target": class_target(type(model)),
        "distributions": dict(sorted(dists.items())),
        "parameters": {"total": sum(p.numel() for p in model.parameters()),
                       "trainable": sum(p.numel() for p in model.parameters()
                                        if p.requires_grad)},
    }


def check_distributions(manifest: dict[str, Any], path: str) -> None:
    """Fail when a distribution the archive needs is missing; warn on version differences.

    Args:
        manifest: The archive's manifest.
        path: The archive path, for messages.
    """
    needed = manifest.get("distributions") or {}
    missing = [name for name in needed if _version(name) is None]
    if missing:
        names = " ".join(sorted(missing))
        raise MissingDistributionError(
            f"{path} was saved with {', '.join(f'{n} {needed[n]}' for n in sorted(missing))}, "
            f"which is not installed; install it with: pip install {names}"
        )
    for name, saved in needed.items():
        installed = _version(name)
        if saved and installed and saved != installed and name.startswith("atommic"):
            warnings.warn(f"{path} was saved with {name} {saved}; installed is {installed}",
                          UserWarning, stacklevel=3)


def resolve_target(target: Any, path: str) -> type:
    """Import the class a config's ``target`` names, from an installed package only.

    Args:
        target: Dotted path ``"package.module.Class"`` (nested ``Outer.Inner`` allowed).
        path: Where the target came from, for messages.

    Returns:
        The class (not yet checked to be a ``ModelPT``).
    """
    if not isinstance(target, str) or "." not in target:
        raise AtommicError(
            f"{path}: config 'target' must be a dotted class path like "
            f"'atommic_rec.models.VarNet', found {target!r}"
        )
    top = target.split(".")[0]
    if top not in sys.modules and top not in _package_map():
        raise MissingDistributionError(
            f"{path} needs class {target}, but no installed distribution provides package "
            f"{top!r}; install the distribution that provides it"
        )
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # the module itself is missing: try a shorter prefix
            raise
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        if isinstance(obj, type):
            return obj
        break
    raise AtommicError(
        f"{path}: target {target!r} does not name a class of an installed package; was the "
        "class renamed? pass override_config_path with a corrected 'target'"
    )
