"""``python -m atommic_core info ARCHIVE``: what a ``.atommic`` file holds, weights unread.

Reads only the tar headers, ``manifest.json``, ``model_config.yaml`` and ``model_card.md``
(each verified against the manifest); neither torch nor the weights are loaded, so it answers
in well under a second for any model size.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["archive_info", "run_info"]

_SECTION_KEYS = ("train_ds", "validation_ds", "test_ds", "predict_ds", "optim")


def archive_info(path: str) -> dict[str, Any]:
    """Manifest, parameter counts, config summary and card of an archive.

    Args:
        path: The ``.atommic`` file.

    Returns:
        ``{"path", "manifest", "members", "parameters", "config", "card"}`` where ``members``
        maps member name to size in bytes and ``card`` is ``None`` for archives without one.
    """
    import yaml

    from atommic_core.model._archive import CARD_NAME, CONFIG_NAME, ArchiveReader

    with ArchiveReader(path) as archive:
        manifest = {k: v for k, v in archive.manifest.items() if k != "files"}
        members = {name: m.size for name, m in sorted(archive.members.items())}
        cfg = yaml.safe_load(archive.read_text(CONFIG_NAME)) or {}
        card = archive.read_text(CARD_NAME) if CARD_NAME in archive.members else None
    return {"path": os.path.abspath(path), "manifest": manifest, "members": members,
            "parameters": manifest.get("parameters"), "config": _summary(cfg), "card": card}


def _summary(cfg: dict[str, Any]) -> dict[str, Any]:
    """Top-level settings of a model config; data/optim sections by their main keys."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in _SECTION_KEYS and isinstance(value, dict):
            out[key] = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
        elif not isinstance(value, dict):
            out[key] = value
        else:
            out[key] = f"{{{len(value)} keys}}"
    return out


def _print(info: dict[str, Any]) -> None:
    man, params = info["manifest"], info["parameters"] or {}
    print(f"archive: {info['path']}")
    print(f"format: {man.get('format')} v{man.get('format_version')}, target: {man.get('target')}")
    versions = ", ".join(f"{k} {v}" for k, v in (man.get("distributions") or {}).items())
    print(f"built with: atommic-core {man.get('atommic_core_version')}; {versions}")
    total = params.get("total")
    print(f"parameters: {f'{total:,}' if isinstance(total, int) else 'unknown (older archive)'}"
          + (f" ({params['trainable']:,} trainable)" if "trainable" in params else ""))
    print("members: " + ", ".join(f"{n} ({s:,} B)" for n, s in info["members"].items()))
    print("config:")
    for key, value in info["config"].items():
        print(f"  {key}: {value}")
    print("\n" + (info["card"] or "(no model_card.md: archive written before format 2)"))


def run_info(path: str, card_only: bool = False, as_json: bool = False,
             set_card: str | None = None) -> int:
    """Print an archive's summary (or replace its card); the CLI's ``info`` command.

    Args:
        path: The ``.atommic`` file.
        card_only: Print only ``model_card.md`` (e.g. to edit it and ``--set-card`` it back).
        as_json: Print the summary as JSON.
        set_card: A Markdown file that replaces the archive's card (checksums updated).

    Returns:
        The exit code (0).
    """
    if set_card is not None:
        from atommic_core.model._archive import CARD_NAME, replace_texts

        if not os.path.isfile(set_card):
            raise FileNotFoundError(f"--set-card: no file {set_card}; write the card first "
                                    f"(python -m atommic_core info {path} --card > card.md)")
        with open(set_card, encoding="utf-8") as f:
            replace_texts(path, {CARD_NAME: f.read()})
        print(f"replaced the model card of {path} with {set_card}")
        return 0
    info = archive_info(path)
    if card_only:
        print(info["card"] or "", end="" if (info["card"] or "").endswith("\n") else "\n")
    elif as_json:
        print(json.dumps(info, indent=2, default=str))
    else:
        _print(info)
    return 0
