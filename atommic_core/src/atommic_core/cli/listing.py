"""``python -m atommic_core list``: what is installed and who provides it."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["print_versions", "run_list"]


def print_versions() -> None:
    """Print atommic-core's version and every plugin distribution's."""
    from atommic_core import __version__

    print(f"atommic-core {__version__}")
    for record in _plugin_records():
        if record.name != "core" and record.distribution:
            print(f"{record.distribution} {record.version}")


def _plugin_records() -> list:
    from atommic_core.plugins import plugin_records

    return plugin_records()


def _registry_rows(kind: str) -> list[dict[str, Any]]:
    from atommic_core import registry

    reg = {"models": registry.models, "optimizers": registry.optimizers,
           "schedulers": registry.schedulers}[kind]
    return [
        {"name": e.name, "plugin": e.plugin, "distribution": e.distribution,
         "class": f"{getattr(e.obj, '__module__', '?')}.{getattr(e.obj, '__qualname__', e.obj)}"}
        for e in reg.entries()
    ]


def _config_rows() -> list[dict[str, Any]]:
    from atommic_core.cli.config import config_dirs

    rows = []
    for folder in config_dirs():
        for path in sorted(folder.glob("*.yaml")):
            rows.append({"name": path.stem, "path": str(path)})
    return rows


def _pretrained_rows() -> list[dict[str, Any]]:
    from atommic_core.plugins import get_plugin_manager

    rows = []
    for infos in get_plugin_manager().hook.atommic_pretrained_models():
        for info in infos or []:
            rows.append({"name": info.pretrained_model_name, "description": info.description,
                         "location": info.location})
    return rows


def _plugin_rows(show_all: bool) -> list[dict[str, Any]]:
    rows = []
    for record in _plugin_records():
        row = record.as_dict()
        if not show_all:
            row.pop("module")
        rows.append(row)
    return rows


def _print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    print(f"{title}:")
    if not rows:
        print("  (none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c) or "")) for r in rows)) for c in columns}
    for row in rows:
        print("  " + "  ".join(str(row.get(c) or "").ljust(widths[c]) for c in columns).rstrip())


def run_list(what: str, show_all: bool = False, as_json: bool = False) -> int:
    """Print the requested listing; ``what="all"`` prints every section."""
    sections: dict[str, Any] = {}
    kinds = ("plugins", "models", "optimizers", "schedulers", "configs", "pretrained")
    for kind in kinds if what == "all" else (what,):
        if kind == "plugins":
            sections[kind] = _plugin_rows(show_all)
        elif kind == "configs":
            sections[kind] = _config_rows()
        elif kind == "pretrained":
            sections[kind] = _pretrained_rows()
        else:
            sections[kind] = _registry_rows(kind)
    if as_json:
        json.dump(sections if what == "all" else sections[what], sys.stdout, indent=2)
        print()
        return 0
    for kind, rows in sections.items():
        if kind == "plugins":
            for row in rows:
                status = f"FAILED: {row['error']}" if row["error"] else ", ".join(row["hooks"])
                extra = f"  [{row['module']}]" if show_all else ""
                print(f"{row['name']}: {row['distribution']} {row['version']}  {status}{extra}")
        elif kind in ("configs", "pretrained"):
            _print_table(kind, rows, ["name", "path" if kind == "configs" else "location"])
        else:
            _print_table(kind, rows, ["name", "plugin", "distribution"])
    return 0
