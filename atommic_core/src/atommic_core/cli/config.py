"""Find, compose and validate an experiment config (``trainer``/``exp_manager``/``model``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError

__all__ = ["TOP_LEVEL_SECTIONS", "compose_config", "find_config_dir", "resolve_model_class"]

TOP_LEVEL_SECTIONS = ("name", "trainer", "exp_manager", "model", "hydra", "seed")


def _yaml_name(config_name: str) -> str:
    return config_name if config_name.endswith((".yaml", ".yml")) else f"{config_name}.yaml"


def config_dirs() -> list[Path]:
    """Folders of example configs offered by installed plugins (``atommic_config_dirs``)."""
    from atommic_core.plugins import get_plugin_manager

    dirs: list[Path] = []
    for result in get_plugin_manager().hook.atommic_config_dirs():
        dirs.extend(Path(d) for d in result or [])
    return dirs


def find_config_dir(config_path: str | None, config_name: str) -> Path:
    """Return the folder holding ``config_name``, searching plugin config dirs if no path.

    Raises:
        ConfigError: if the folder or the file does not exist.
    """
    name = _yaml_name(config_name)
    if config_path is not None:
        folder = Path(config_path).expanduser().resolve()
        if not (folder / name).is_file():
            hint = "" if folder.is_dir() else " (the folder does not exist)"
            raise ConfigError(f"config {name!r} not found in {folder}{hint}")
        return folder
    if os.sep in config_name and Path(config_name).is_file():
        return Path(config_name).resolve().parent
    searched = config_dirs()
    for folder in searched:
        if (folder / name).is_file():
            return folder
    raise ConfigError(
        f"config {name!r} not found; pass --config-path DIR or use one of the installed "
        f"configs (python -m atommic_core list configs). Searched: "
        f"{', '.join(map(str, searched)) or '(no config folders installed)'}"
    )


def compose_config(config_path: str | None, config_name: str, overrides: list[str]) -> Any:
    """Compose the config with Hydra's override grammar and validate its sections.

    Args:
        config_path: Folder of the YAML file, or None to search installed collections.
        config_name: File name with or without ``.yaml``.
        overrides: Hydra overrides (``a.b=1``, ``+new=2``, ``~gone``).

    Returns:
        The composed ``DictConfig`` (without Hydra's own ``hydra`` node).
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    folder = find_config_dir(config_path, config_name)
    name = Path(_yaml_name(config_name)).name
    try:
        with initialize_config_dir(config_dir=str(folder), version_base=None):
            cfg = compose(config_name=name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise ConfigError(f"cannot compose {folder / name}: {first}") from exc
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra", None)
    validate_sections(cfg)
    return cfg


def validate_sections(cfg: Any) -> None:
    """Check the top level has only known sections and a ``model`` with a ``model_name``."""
    import difflib

    unknown = [k for k in cfg.keys() if k not in TOP_LEVEL_SECTIONS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), TOP_LEVEL_SECTIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown top-level section {key!r}; allowed: {', '.join(TOP_LEVEL_SECTIONS)}.{hint}"
        )
    if cfg.get("model") is None:
        raise ConfigError("the config has no 'model' section; add model: {model_name: ...}")
    if not cfg.model.get("model_name"):
        raise ConfigError("missing required key model.model_name (e.g. model_name: VarNet); "
                          "see python -m atommic_core list models")


def resolve_model_class(cfg: Any) -> type:
    """Look ``model.model_name`` up in the model registry (UnknownNameError if absent)."""
    from atommic_core.registry import models

    return models[cfg.model.model_name]
