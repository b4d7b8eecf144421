"""Turn the ``trainer:`` section into checked ``pytorch_lightning.Trainer`` arguments."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any

from atommic_core.errors import ConfigError
from atommic_core.exp_manager._types import describe, matches, suggest

__all__ = ["CPU_PRECISIONS", "PRECISIONS", "check_precision", "trainer_kwargs"]

PRECISIONS = ("16-mixed", "bf16-mixed", "32-true", "64-true", "64", "32", "16")
"""Values ``trainer.precision`` accepts."""

CPU_PRECISIONS = ("bf16-mixed", "32-true", "64-true", "64", "32")
"""The subset that works on a CPU (fp16 mixed precision needs a CUDA GPU)."""

# Arguments whose value is an object; a YAML dict with ``_target_`` is instantiated by Hydra.
_OBJECT_ARGS = ("accelerator", "strategy", "logger", "callbacks", "profiler", "plugins")


def _trainer_hints() -> tuple[list[str], dict[str, Any]]:
    import pytorch_lightning as pl

    names = [n for n in inspect.signature(pl.Trainer.__init__).parameters if n != "self"]
    try:
        hints = typing.get_type_hints(pl.Trainer.__init__)
    except Exception:  # noqa: BLE001 - unresolvable hints in some Lightning version: skip checks
        hints = {}
    return names, hints


def _runs_on_cpu(section: Mapping[str, Any]) -> bool:
    accelerator = section.get("accelerator", "auto")
    if accelerator == "cpu":
        return True
    if accelerator not in (None, "auto"):
        return False
    import torch

    mps = getattr(torch.backends, "mps", None)
    return not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def check_precision(value: Any, on_cpu: bool) -> str:
    """Validate ``trainer.precision`` and return it as Lightning's string.

    Args:
        value: The configured value (``16``, ``"bf16-mixed"``, ...).
        on_cpu: Whether the run will use the CPU accelerator.

    Returns:
        The precision as a string from :data:`PRECISIONS`.

    Raises:
        ConfigError: for a value outside :data:`PRECISIONS`, or one a CPU cannot run (the
            message lists :data:`CPU_PRECISIONS`).
    """
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text not in PRECISIONS:
        raise ConfigError(f"trainer.precision: expected one of {', '.join(PRECISIONS)}, "
                          f"found {value!r}")
    if on_cpu and text not in CPU_PRECISIONS:
        raise ConfigError(
            f"trainer.precision={text} cannot run on the CPU (fp16 mixed precision needs a CUDA "
            f"GPU); on the CPU use one of: {', '.join(CPU_PRECISIONS)}"
        )
    return text


def _instantiate(key: str, value: Any) -> Any:
    if isinstance(value, Mapping) and "_target_" in value:
        from hydra.utils import instantiate

        try:
            return instantiate(dict(value), _convert_="all")
        except Exception as exc:  # Hydra wraps the real error
            raise ConfigError(f"trainer.{key}: cannot instantiate {value['_target_']}: "
                              f"{str(exc).splitlines()[0]}") from exc
    if isinstance(value, list):
        return [_instantiate(key, v) for v in value]
    return value


def trainer_kwargs(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check every key of the ``trainer`` section and return ``Trainer`` keyword arguments.

    Every argument of ``pytorch_lightning.Trainer`` is accepted. Values are checked against
    the Trainer's type hints; object-valued arguments (``strategy``, ``callbacks``,
    ``plugins``, ``profiler``, ...) may be YAML dicts with ``_target_``.

    Args:
        section: The ``trainer`` section as a plain mapping.

    Returns:
        Keyword arguments for ``pytorch_lightning.Trainer``.

    Raises:
        ConfigError: for an unknown key, a value of the wrong type or a bad precision.
    """
    section = dict(section or {})
    names, hints = _trainer_hints()
    kwargs: dict[str, Any] = {}
    for key, value in section.items():
        if key not in names:
            raise ConfigError(f"unknown key trainer.{key}.{suggest(str(key), names)} "
                              f"It must be a pytorch_lightning.Trainer argument")
        if key == "precision":
            value = check_precision(value, _runs_on_cpu(section))
        elif key in _OBJECT_ARGS:
            value = _instantiate(key, value)
        elif key in hints and not matches(value, hints[key]):
            raise ConfigError(f"trainer.{key}: expected {describe(hints[key])}, found "
                              f"{type(value).__name__} {value!r}")
        kwargs[key] = value
    return kwargs
