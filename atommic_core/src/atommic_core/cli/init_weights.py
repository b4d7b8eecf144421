"""Load (part of) the weights of another model before training: ``model.init_from``.

Config forms::

    model:
      init_from: /runs/varnet.atommic            # a .atommic or a Lightning .ckpt
      # or
      init_from:
        path: /runs/epoch=9.ckpt
        include: [encoder]                       # only these modules (dotted paths)
        exclude: [encoder.head]                  # minus these
      # or, a pretrained model offered by a plugin:
      pretrained: varnet_knee_4x                 # or {name: ..., include: [...], exclude: [...]}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from atommic_core.errors import ConfigError

__all__ = ["filter_state_dict", "load_initial_weights", "read_state_dict"]

LOG = logging.getLogger("atommic_core.cli")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights stored in a ``.atommic`` archive or a Lightning checkpoint.

    Args:
        path: A ``.atommic`` file (restored with ``ModelPT.restore_from``) or a checkpoint
            holding ``state_dict`` (or a plain state dict saved with ``torch.save``).

    Returns:
        ``{parameter name: tensor}`` on the CPU.
    """
    path = Path(path).expanduser()
    if path.suffix == ".atommic":
        from atommic_core.model.modelpt import ModelPT

        return ModelPT.restore_from(str(path), map_location="cpu").state_dict()
    # A Lightning checkpoint also stores hyper-parameters (OmegaConf objects), which
    # weights_only=True refuses; checkpoints are files the user's own runs wrote.
    ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise ConfigError(f"model.init_from: {path} holds no state_dict; expected a .atommic "
                          "file or a Lightning checkpoint")
    return dict(state)


def _matches(key: str, module: str) -> bool:
    return key == module or key.startswith(module + ".")


def _check_modules(model: torch.nn.Module, names: list[str], which: str) -> None:
    from atommic_core.exp_manager._types import suggest

    known = {n for n, _ in model.named_modules() if n} | {n for n, _ in model.named_parameters()}
    for name in names:
        if name not in known:
            top = sorted(n for n in known if "." not in n)
            raise ConfigError(f"model.init_from.{which}: no module {name!r} in the model."
                              f"{suggest(name, known)} Top-level modules: {', '.join(top)}")


def filter_state_dict(state: Mapping[str, torch.Tensor], include: list[str] | None = None,
                      exclude: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Keep the tensors under ``include`` modules (all if empty) and not under ``exclude``.

    Args:
        state: A state dict.
        include: Dotted module paths to keep, e.g. ``["encoder"]``; None or empty keeps all.
        exclude: Dotted module paths to drop.

    Returns:
        The filtered state dict.
    """
    include, exclude = list(include or []), list(exclude or [])
    return {k: v for k, v in state.items()
            if (not include or any(_matches(k, m) for m in include))
            and not any(_matches(k, m) for m in exclude)}


def _spec(model_cfg: Any) -> tuple[str, str, list[str], list[str]] | None:
    for key in ("init_from", "pretrained"):
        value = model_cfg.get(key)
        if not value:
            continue
        if isinstance(value, str):
            return key, value, [], []
        if not hasattr(value, "get"):
            raise ConfigError(f"model.{key}: expected a path/name or a mapping, found {value!r}")
        source = value.get("path") if key == "init_from" else value.get("name")
        if not source:
            field = "path" if key == "init_from" else "name"
            raise ConfigError(f"missing required key model.{key}.{field}")
        return key, str(source), list(value.get("include") or []), list(value.get("exclude")
                                                                         or [])
    return None


def load_initial_weights(model: torch.nn.Module, model_cfg: Any) -> int:
    """Copy weights into ``model`` as ``model.init_from`` or ``model.pretrained`` says.

    Tensors whose name or shape the model does not have are skipped with a log line; a
    shape mismatch inside the requested modules is an error.

    Args:
        model: The freshly built model.
        model_cfg: The ``model`` section.

    Returns:
        The number of tensors loaded (0 when neither key is set).

    Raises:
        ConfigError: for an unknown module in ``include``/``exclude``, a shape mismatch or
            a file without weights.
    """
    spec = _spec(model_cfg)
    if spec is None:
        return 0
    key, source, include, exclude = spec
    _check_modules(model, include, "include")
    _check_modules(model, exclude, "exclude")
    if key == "pretrained":
        state = type(model).from_pretrained(source, map_location="cpu").state_dict()
    else:
        state = read_state_dict(source)
    state = filter_state_dict(state, include, exclude)
    own = model.state_dict()
    for name, tensor in state.items():
        if name in own and own[name].shape != tensor.shape:
            raise ConfigError(
                f"model.{key}: {name} has shape {tuple(tensor.shape)} in {source} but "
                f"{tuple(own[name].shape)} in the model; hint: exclude that module"
            )
    usable = {k: v for k, v in state.items() if k in own}
    if not usable:
        raise ConfigError(f"model.{key}: no weights of {source} match the model "
                          f"(include={include}, exclude={exclude})")
    model.load_state_dict(usable, strict=False)
    skipped = sorted(set(state) - set(usable))
    LOG.info("%s: loaded %d tensors from %s%s", key, len(usable), source,
             f"; skipped {len(skipped)} not in the model" if skipped else "")
    return len(usable)
