"""``python -m atommic_core list``: what is installed and which plugin provides it.

``list plugins`` only loads the plugins' entry-point modules (cheap); models, optimizers and
schedulers run the registration hooks. Entries registered as lazy references
(``"package.module:Class"``, as every shipped plugin does) are listed without importing them,
so no section imports torch or Lightning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from atommic_core.errors import AtommicError

__all__ = ["LIST_KINDS", "collect", "print_versions", "run_list"]

LIST_KINDS = ("plugins", "models", "optimizers", "schedulers", "configs", "pretrained")
_REGISTRIES = ("models", "optimizers", "schedulers")


def print_versions() -> None:
    """Print atommic-core's version and every plugin distribution's."""
    from atommic_core import __version__
    from atommic_core.plugins import plugin_records

    print(f"atommic-core {__version__}")
    for record in plugin_records():
        if record.name != "core" and record.distribution:
            print(f"{record.distribution} {record.version}")


def _registry_rows(kind: str) -> list[dict[str, Any]]:
    from atommic_core import registry

    return [
        {"name": e.name, "plugin": e.plugin, "distribution": e.distribution,
         "class": e.qualname}  # a lazy reference stays a string: listing imports nothing
        for e in getattr(registry, kind).entries()
    ]


def _config_rows() -> list[dict[str, Any]]:
    from atommic_core.plugins import call_each

    rows = []
    for plugin, folders in call_each("atommic_config_dirs"):
        for folder in folders or []:
            for path in sorted(Path(folder).glob("*.y*ml")):
                rows.append({"name": path.stem, "plugin": plugin, "path": str(path)})
    return rows


def _pretrained_rows() -> list[dict[str, Any]]:
    from atommic_core.model.pretrained import catalogue, location_state

    return [
        {"name": info.pretrained_model_name, "plugin": plugin, "description": info.description,
         "location": info.location, "sha256": info.sha256, "state": location_state(info)}
        for plugin, info in catalogue()
    ]


def _plugin_rows(show_all: bool, sections: dict[str, Any]) -> list[dict[str, Any]]:
    from atommic_core.plugins import plugin_records

    rows = []
    for record in plugin_records():
        row = record.as_dict()
        if not show_all:
            row.pop("module")
        provided = {kind: [r["name"] for r in sections[kind] if r.get("plugin") == record.name]
                    for kind in sections if kind != "plugins" and isinstance(sections[kind], list)}
        if provided:  # only when the other sections were listed too
            row["registers"] = {k: v for k, v in provided.items() if v}
        rows.append(row)
    return rows


def collect(what: str = "all", show_all: bool = False) -> dict[str, Any]:
    """Gather the listing as plain data.

    Args:
        what: ``"all"`` or one of :data:`LIST_KINDS`.
        show_all: Also include each plugin's module.

    Returns:
        ``{kind: rows}``; a section that failed holds ``{"error": message}`` instead of rows.
    """
    sections: dict[str, Any] = {}
    kinds = LIST_KINDS if what == "all" else (what,)
    builders = {"configs": _config_rows, "pretrained": _pretrained_rows}
    for kind in (k for k in kinds if k != "plugins"):
        try:
            sections[kind] = _registry_rows(kind) if kind in _REGISTRIES else builders[kind]()
        except AtommicError as exc:  # one broken section must not hide the others
            sections[kind] = {"error": str(exc)}
    if "plugins" in kinds:
        sections = {"plugins": _plugin_rows(show_all, sections), **sections}
    return sections


def _names(names: list[str], show_all: bool, limit: int = 6) -> str:
    """``a, b, c`` or, past ``limit`` names and without ``--all``, ``a, b, ... (+7 more)``."""
    if show_all or len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, ... (+{len(names) - limit} more)"


def _print_plugins(rows: list[dict[str, Any]], show_all: bool) -> None:
    print("plugins:")
    for row in rows:
        head = f"  {row['name']}: {row['distribution'] or '(in-process)'} {row['version'] or ''}"
        if row["error"]:
            print(f"{head.rstrip()}  FAILED: {row['error']}")
            continue
        hooks = f"hooks: {', '.join(row['hooks']) or '(none)'}"
        if "registers" in row:
            what = "; ".join(f"{k}: {_names(v, show_all)}" for k, v in row["registers"].items())
            print(f"{head.rstrip()}  {what or '(registers nothing)'}")
        else:
            print(f"{head.rstrip()}  {hooks}")
        if show_all:
            print(f"      module: {row['module']}" + (f"; {hooks}" if "registers" in row else ""))


def _print_table(title: str, rows: Any, columns: list[str]) -> None:
    print(f"{title}:")
    if isinstance(rows, dict):
        print(f"  error: {rows['error']}")
        return
    if not rows:
        print("  (none)")
        return
    widths = {c: max(len(str(r.get(c) or "")) for r in rows) for c in columns}
    for row in rows:
        print("  " + "  ".join(str(row.get(c) or "").ljust(widths[c]) for c in columns).rstrip())


def run_list(what: str, show_all: bool = False, as_json: bool = False) -> int:
    """Print the requested listing; ``what="all"`` prints every section.

    Args:
        what: ``"all"`` or one of :data:`LIST_KINDS`.
        show_all: Also show each plugin's module and hooks, and each entry's class.
        as_json: Print JSON (``{kind: rows}`` for ``all``, else the rows) instead of text.

    Returns:
        0, or 1 when a section could not be built (its error is shown in place).
    """
    sections = collect(what, show_all)
    failed = any(isinstance(rows, dict) for rows in sections.values())
    if as_json:
        json.dump(sections if what == "all" else sections[what], sys.stdout, indent=2)
        print()
        return int(failed)
    for kind, rows in sections.items():
        if kind == "plugins":
            _print_plugins(rows, show_all)
        elif kind == "configs":
            _print_table(kind, rows, ["name", "plugin", "path"])
        elif kind == "pretrained":
            _print_table(kind, rows, ["name", "plugin", "state", "location"]
                         + (["description", "sha256"] if show_all else []))
        else:
            _print_table(kind, rows, ["name", "plugin", "distribution"]
                         + (["class"] if show_all else []))
    return int(failed)
