"""Find, compose and validate an experiment config (``trainer``/``exp_manager``/``model``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError

__all__ = [
    "TOP_LEVEL_SECTIONS",
    "compose_config",
    "find_config_dir",
    "resolve_model_class",
    "validate_config",
]

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


# Sections whose keys atommic checks itself (unknown key -> error with a suggestion), so an
# override may add a key the YAML leaves out without Hydra's "+" prefix.
_CHECKED_SECTIONS = ("trainer.", "exp_manager.")


def _add_missing_key(overrides: list[str], exc: Exception) -> bool:
    """Turn ``trainer.x=1`` into ``+trainer.x=1`` after Hydra's "Could not override"."""
    import re

    found = re.match(r"Could not override '([^']+)'", str(exc))
    if not found or not found.group(1).startswith(_CHECKED_SECTIONS):
        return False
    key = found.group(1)
    for i, item in enumerate(overrides):
        if item.split("=", 1)[0] == key:
            overrides[i] = "+" + item
            return True
    return False


def compose_config(config_path: str | None, config_name: str, overrides: list[str]) -> Any:
    """Compose the config with Hydra's override grammar and validate its sections.

    Args:
        config_path: Folder of the YAML file, or None to search installed collections.
        config_name: File name with or without ``.yaml``.
        overrides: Hydra overrides (``a.b=1``, ``+new=2``, ``~gone``). Keys of ``trainer``
            and ``exp_manager`` may be set without ``+`` even if the YAML lacks them: those
            sections are checked key by key afterwards.

    Returns:
        The composed ``DictConfig`` (without Hydra's own ``hydra`` node).
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    folder = find_config_dir(config_path, config_name)
    name = Path(_yaml_name(config_name)).name
    overrides = list(overrides)
    try:
        with initialize_config_dir(config_dir=str(folder), version_base=None):
            for _ in range(len(overrides) + 1):
                try:
                    cfg = compose(config_name=name, overrides=overrides)
                    break
                except HydraException as exc:
                    if not _add_missing_key(overrides, exc):
                        raise
    except (HydraException, OmegaConfBaseException) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [repr(exc)]
        hint = next((ln for ln in lines[1:] if ln.startswith("To append")), None)
        message = lines[0] + (f" (hint: {hint[0].lower()}{hint[1:]})" if hint else "")
        raise ConfigError(f"cannot compose {folder / name}: {message}") from exc
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

    if not isinstance(cfg.model.model_name, str):
        raise ConfigError(f"model.model_name: expected str, found "
                          f"{type(cfg.model.model_name).__name__} {cfg.model.model_name!r}")
    return models[cfg.model.model_name]


_DATA_SECTIONS = ("train_ds", "validation_ds", "test_ds", "predict_ds")
_PATH_SUFFIXES = ("_path", "_paths", "_dir", "_dirs")
_NOT_INPUTS = ("output", "save", "log", "cache", "tmp", "checkpoint")


def _is_input_path_key(key: str) -> bool:
    return key.endswith(_PATH_SUFFIXES) and not key.startswith(_NOT_INPUTS)


def _check_path(where: str, value: Any, hint: str = "") -> None:
    values = list(value) if isinstance(value, (list, tuple)) or _is_list(value) else [value]
    for item in values:
        if item in (None, "", "None", "none", "null"):
            continue
        if not isinstance(item, (str, os.PathLike)):
            raise ConfigError(f"{where}: expected a path (str), found {type(item).__name__} "
                              f"{item!r}")
        if not Path(item).expanduser().exists():
            raise ConfigError(f"{where}: {item} does not exist{hint}")


def _is_mapping(value: Any) -> bool:
    from collections.abc import Mapping

    from omegaconf import DictConfig

    return isinstance(value, (DictConfig, Mapping))


def _resolvable(cfg: Any) -> None:
    """Resolve every ``${...}`` once, so a broken interpolation is one error line."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        where = getattr(exc, "full_key", None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where + ': ' if where else ''}{first}; hint: fix the ${{...}} "
                          "reference or the key it points to") from exc


def _is_list(value: Any) -> bool:
    from omegaconf import ListConfig

    return isinstance(value, ListConfig)


_USED_SECTIONS = {"train": ("train_ds", "validation_ds", "test_ds"), "test": ("test_ds",),
                  "predict": ("predict_ds", "test_ds")}


def _data_paths(cfg: Any, command: str) -> None:
    sections = _USED_SECTIONS.get(command, _DATA_SECTIONS)
    if command == "predict" and cfg.model.get("predict_ds") is not None:
        sections = ("predict_ds",)
    for section in sections:
        data = cfg.model.get(section)
        if data is None:
            continue
        if not _is_mapping(data):
            raise ConfigError(f"model.{section}: expected a mapping of dataset options, found "
                              f"{type(data).__name__} {data!r}")
        for key, value in data.items():
            if _is_input_path_key(str(key)):
                _check_path(f"model.{section}.{key}", value,
                            "; hint: fix the path or override it, e.g. "
                            f"model.{section}.{key}=/data/...")


def _optim_names(cfg: Any) -> None:
    from atommic_core.registry import optimizers, schedulers

    optim = cfg.model.get("optim")
    if optim is None:
        return
    if not _is_mapping(optim):
        raise ConfigError(f"model.optim: expected a mapping like {{name: adam, lr: 1e-3}}, "
                          f"found {type(optim).__name__} {optim!r}")
    if not optim.get("name"):
        raise ConfigError("missing required key model.optim.name (e.g. name: adam); see "
                          "python -m atommic_core list optimizers")
    optimizers.entry(str(optim.name))
    sched = optim.get("sched")
    if sched:
        if not _is_mapping(sched) or not sched.get("name"):
            raise ConfigError("missing required key model.optim.sched.name (e.g. name: "
                              "CosineAnnealing); see python -m atommic_core list schedulers")
        schedulers.entry(str(sched.name))


def _required_for(command: str, cfg: Any, model_cls: type) -> None:
    from atommic_core.model.modelpt import ModelPT

    model = cfg.model
    if command == "train":
        if model.get("train_ds") is None and model_cls.train_dataloader is ModelPT.train_dataloader:
            raise ConfigError("missing required key model.train_ds (the training data section)")
        if (model.get("optim") is None
                and model_cls.configure_optimizers is ModelPT.configure_optimizers):
            raise ConfigError("missing required key model.optim (e.g. {name: adam, lr: 1e-3})")
        return
    split = "test_ds" if command == "test" else "predict_ds"
    if model.get(split) is None and not (command == "predict" and model.get("test_ds")):
        raise ConfigError(f"missing required key model.{split} (the data to {command} on)")
    if not model.get("restore_path") and getattr(model_cls, "requires_training", True):
        raise ConfigError(f"missing required key model.restore_path: {command} needs a trained "
                          "model (a .atommic file or a Lightning .ckpt)")


def validate_config(cfg: Any, command: str, model_cls: type) -> None:
    """Check the whole config before anything runs, so errors are one line and early.

    Checks: required keys for ``command``; ``trainer`` keys, types and precision;
    ``exp_manager`` keys and types; optimizer and scheduler names (with suggestions); that
    data paths (``*_path``/``*_dir`` keys of the data sections ``command`` uses),
    ``model.restore_path``,
    ``model.init_from`` and ``exp_manager.resume_from_checkpoint`` exist. ``test``/``predict``
    need ``model.restore_path`` unless the model class sets ``requires_training = False``.

    Args:
        cfg: The composed config.
        command: ``"train"``, ``"test"`` or ``"predict"``.
        model_cls: The class ``model.model_name`` resolved to.

    Raises:
        ConfigError: the first problem found; ``UnknownNameError`` for an unknown name.
    """
    from omegaconf import OmegaConf

    from atommic_core.exp_manager import ExpManagerConfig, trainer_kwargs

    _resolvable(cfg)
    _required_for(command, cfg, model_cls)
    trainer = cfg.get("trainer")
    if trainer is not None and not _is_mapping(trainer):
        raise ConfigError(f"trainer: expected a mapping of Trainer arguments, found {trainer!r}")
    trainer_kwargs(OmegaConf.to_container(trainer, resolve=True) if trainer else {})
    section = cfg.get("exp_manager")
    em = ExpManagerConfig.from_config(OmegaConf.to_container(section, resolve=True)
                                      if section else {})
    if em.resume_from_checkpoint:
        _check_path("exp_manager.resume_from_checkpoint", em.resume_from_checkpoint)
    if trainer is None or trainer.get("logger", True) is not False:
        from atommic_core.exp_manager.loggers import check_logger_packages

        check_logger_packages(em)
    if command == "train":
        _optim_names(cfg)
        if cfg.model.get("optim") is not None:
            from atommic_core.optim import check_optimization

            check_optimization(cfg.model.optim)
        init = cfg.model.get("init_from")
        if init is not None:
            _check_path("model.init_from", init.get("path") if _is_mapping(init) else init)
    else:
        _check_path("model.restore_path", cfg.model.get("restore_path"))
    _data_paths(cfg, command)
