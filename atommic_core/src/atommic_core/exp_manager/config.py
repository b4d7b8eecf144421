"""The ``exp_manager:`` section as a typed dataclass, validated key by key."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from atommic_core.errors import ConfigError
from atommic_core.exp_manager._types import describe, matches, suggest

__all__ = ["ExpManagerConfig"]


@dataclass
class ExpManagerConfig:
    """Options of the experiment manager (the ``exp_manager:`` section).

    Attributes:
        exp_dir: Root of all experiments; default ``./atommic_experiments``.
        name: Experiment name; default the config's ``name`` or the model name.
        version: Run folder name; default a timestamp ``YYYY-MM-DD_HH-MM-SS``.
        use_datetime_version: Use a timestamp (True) or ``version_<n>`` (False) when
            ``version`` is not given.
        create_tensorboard_logger: Log to TensorBoard under the log dir.
        tensorboard_logger_kwargs: Extra ``TensorBoardLogger`` arguments
            (``summary_writer_kwargs`` is accepted as an alias).
        create_wandb_logger: Log to Weights & Biases; offline unless ``offline: false``.
        wandb_logger_kwargs: Extra ``WandbLogger`` arguments (``project``, ``name``, ...).
        create_csv_logger: Log metrics to ``<log_dir>/csv/metrics.csv``.
        csv_logger_kwargs: Extra ``CSVLogger`` arguments.
        create_checkpoint_callback: Add a ``ModelCheckpoint`` writing to
            ``<log_dir>/checkpoints``.
        checkpoint_callback_params: ``ModelCheckpoint`` arguments (``monitor``, ``mode``,
            ``save_top_k``, ``save_last``, ``every_n_epochs``, ``filename``, ...).
        save_atommic_on_train_end: Write ``<name>.atommic`` (best, else last weights) into the
            checkpoints folder when training ends.
        resume_if_exists: Resume from the newest checkpoint of the run folder (the latest
            run of ``exp_dir/name`` when no ``version`` is given).
        resume_ignore_no_checkpoint: With nothing to resume, start fresh (True) or fail.
        resume_from_checkpoint: Resume from this Lightning checkpoint file.
        create_early_stopping_callback: Add an ``EarlyStopping`` callback.
        early_stopping_callback_params: ``EarlyStopping`` arguments (``monitor``, ``mode``,
            ``patience``, ``min_delta``, ...).
        checkpoint_on_interrupt: On SIGTERM or Ctrl-C, write a resumable checkpoint.
        log_global_rank_0_only: Only global rank 0 writes a log file.
        output_dir: Where ``test`` writes metrics and ``predict`` writes outputs; default
            the log dir (predictions go to ``<output_dir>/predictions``).
        seed: Seed for ``seed_everything`` (a top-level ``seed`` works too).
        publish_pretrained: After ``train`` (and its test), copy the ``.atommic`` into the
            local pretrained folder as ``<name>.atommic`` with its sha256, so a catalogue
            entry of that name (e.g. a collection's demo model) can ``from_pretrained`` it.
    """

    exp_dir: str | None = None
    name: str | None = None
    version: str | int | None = None
    use_datetime_version: bool = True
    create_tensorboard_logger: bool = True
    tensorboard_logger_kwargs: dict = field(default_factory=dict)
    create_wandb_logger: bool = False
    wandb_logger_kwargs: dict = field(default_factory=dict)
    create_csv_logger: bool = False
    csv_logger_kwargs: dict = field(default_factory=dict)
    create_checkpoint_callback: bool = True
    checkpoint_callback_params: dict = field(default_factory=dict)
    save_atommic_on_train_end: bool = True
    resume_if_exists: bool = False
    resume_ignore_no_checkpoint: bool = True
    resume_from_checkpoint: str | None = None
    create_early_stopping_callback: bool = False
    early_stopping_callback_params: dict = field(default_factory=dict)
    checkpoint_on_interrupt: bool = True
    log_global_rank_0_only: bool = False
    output_dir: str | None = None
    seed: int | None = None
    publish_pretrained: str | None = None

    _ALIASES: typing.ClassVar[dict[str, str]] = {
        "summary_writer_kwargs": "tensorboard_logger_kwargs",
    }

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ExpManagerConfig:
        """Build from the ``exp_manager`` section, rejecting unknown keys and wrong types.

        Args:
            section: The section as a plain mapping (or None for all defaults).

        Returns:
            The validated config.

        Raises:
            ConfigError: naming the key, what was expected, what was found and a hint.
        """
        section = dict(section or {})
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in section.items():
            key = cls._ALIASES.get(str(key), str(key))
            if key not in names:
                raise ConfigError(
                    f"unknown key exp_manager.{key}.{suggest(key, names)} "
                    f"Known keys: {', '.join(names)}"
                )
            if value is None and dataclasses.fields(cls)[names.index(key)].type == "dict":
                value = {}
            if not matches(value, hints[key]):
                raise ConfigError(
                    f"exp_manager.{key}: expected {describe(hints[key])}, found "
                    f"{type(value).__name__} {value!r}"
                )
            kwargs[key] = dict(value) if isinstance(value, Mapping) else value
        return cls(**kwargs)
