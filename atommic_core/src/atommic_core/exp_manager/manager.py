"""Set up one run: folder, run files, loggers, callbacks, resume point, then the Trainer."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atommic_core.exp_manager import checkpointing, log_dir, loggers
from atommic_core.exp_manager.config import ExpManagerConfig
from atommic_core.exp_manager.trainer import trainer_kwargs

__all__ = ["DEFAULT_SEED", "Experiment", "build_trainer", "resolve_seed", "seed_run",
           "setup_experiment"]

LOG = logging.getLogger("atommic_core.exp_manager")


@dataclass
class Experiment:
    """Everything a run needs besides the model.

    Attributes:
        config: The validated ``exp_manager`` options.
        name: Experiment name.
        log_dir: The run folder ``exp_dir/name/version``.
        checkpoint_dir: ``log_dir/checkpoints``.
        output_dir: Where ``test`` writes metrics and ``predict`` writes outputs.
        loggers: Lightning loggers for the Trainer.
        callbacks: Lightning callbacks for the Trainer.
        ckpt_path: Checkpoint to resume from (``Trainer.fit(ckpt_path=...)``), or None.
        atommic_path: ``checkpoint_dir/<name>.atommic``, written at the end of training.
        created: Whether this run created ``log_dir`` (False when resuming into it).
        rank: Global rank of this process.
    """

    config: ExpManagerConfig
    name: str
    log_dir: Path
    checkpoint_dir: Path
    output_dir: Path
    loggers: list[Any] = field(default_factory=list)
    callbacks: list[Any] = field(default_factory=list)
    ckpt_path: str | None = None
    atommic_path: Path | None = None
    created: bool = True
    rank: int = 0
    _handler: Any = None

    def callback(self, cls: type) -> Any:
        """The first callback of type ``cls``, or None."""
        return next((cb for cb in self.callbacks if isinstance(cb, cls)), None)

    def record_failure(self, exc: BaseException, steps_done: int = 0) -> None:
        """Keep the run folder truthful after ``exc`` stopped the run.

        A user error (``AtommicError``: bad data, bad config) before any step or checkpoint
        removes the folder this run created, so failed attempts leave no empty run folders;
        otherwise the folder stays and its log file gets the traceback.

        Args:
            exc: What stopped the run.
            steps_done: Optimizer steps completed before the failure.
        """
        from atommic_core.errors import AtommicError

        pristine = (steps_done == 0 and self.created and not any(self.checkpoint_dir.glob("*"))
                    and not (self.output_dir / "predictions").exists())
        if isinstance(exc, AtommicError) and pristine:
            self.close()
            if self.rank == 0:
                import shutil

                shutil.rmtree(self.log_dir, ignore_errors=True)
            return
        if self._handler is not None:
            log_dir.log_to_file_only(self._handler, f"run stopped: {exc!r}", exc)
        LOG.warning("run stopped by %s; log with traceback: %s", type(exc).__name__,
                    self._handler.baseFilename if self._handler is not None else self.log_dir)

    def close(self) -> None:
        """Stop copying log records into the run folder."""
        if self._handler is not None:
            log_dir.remove_file_logging(self._handler)
            self._handler = None


def _plain(section: Any) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(section, DictConfig):
        return dict(OmegaConf.to_container(section, resolve=True))
    return dict(section or {})


def _global_rank() -> int:
    from lightning_fabric.utilities.rank_zero import _get_rank

    return _get_rank() or 0


def _is_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


DEFAULT_SEED = 42
"""The seed of a run whose config sets none: runs are reproducible by default."""


def resolve_seed(cfg: Any, em: ExpManagerConfig | None = None, record: bool = True) -> int:
    """The run's seed (``exp_manager.seed``, else top-level ``seed``, else :data:`DEFAULT_SEED`).

    Args:
        cfg: The composed experiment config.
        em: The validated ``exp_manager`` section (default: read from ``cfg``).
        record: Write ``seed: DEFAULT_SEED`` into a ``cfg`` that has no seed, so the run's
            ``config.yaml`` records the seed that was used.

    Returns:
        The seed.
    """
    from omegaconf import open_dict

    em = em or ExpManagerConfig.from_config(_plain(cfg.get("exp_manager")))
    seed = em.seed if em.seed is not None else cfg.get("seed")
    if seed is None:
        seed = DEFAULT_SEED
        if record:
            with open_dict(cfg):
                cfg.seed = seed
    return int(seed)


def seed_run(cfg: Any, em: ExpManagerConfig | None = None) -> int:
    """Seed Python, numpy and torch (and DataLoader workers) with the run's seed.

    Args:
        cfg: The composed experiment config (left unchanged).
        em: The validated ``exp_manager`` section (default: read from ``cfg``).

    Returns:
        The seed used.
    """
    import pytorch_lightning as pl

    seed = resolve_seed(cfg, em, record=False)
    pl.seed_everything(seed, workers=True, verbose=False)
    return seed


def _train_callbacks(em: ExpManagerConfig, cfg: Any, exp: Experiment, section: dict) -> list:
    from atommic_core.callbacks import AtommicExport, SignalCheckpoint

    callbacks: list[Any] = []
    has_val = cfg.model.get("validation_ds") is not None
    if em.create_checkpoint_callback and section.get("enable_checkpointing", True):
        callbacks.extend(checkpointing.build_checkpoint_callbacks(
            em, exp.checkpoint_dir, exp.name, has_val))
    if em.create_early_stopping_callback:
        callbacks.append(checkpointing.build_early_stopping(em))
    if em.checkpoint_on_interrupt:
        callbacks.append(SignalCheckpoint(exp.checkpoint_dir, f"{exp.name}--interrupted.ckpt"))
    if em.save_atommic_on_train_end:
        callbacks.append(AtommicExport(exp.atommic_path))
    return callbacks


def _mention_interrupted_run(run_dir: Path) -> None:
    """Warn when this fresh run leaves an interrupted, unfinished sibling run behind."""
    others = [d for d in run_dir.parent.iterdir() if d.is_dir() and d != run_dir
              and any((d / "checkpoints").glob("*--interrupted.ckpt"))
              and not any((d / "checkpoints").glob("*.atommic"))]
    if others:
        newest = max(others, key=lambda d: d.stat().st_mtime)
        LOG.warning("starting a new run in %s; the run %s was interrupted and never finished: "
                    "to continue it instead, add exp_manager.resume_if_exists=true "
                    "exp_manager.version=%s", run_dir.name, newest, newest.name)


def setup_experiment(cfg: Any, command: str = "train", argv: list[str] | None = None,
                     rank: int | None = None) -> Experiment:
    """Create the run folder and the loggers and callbacks asked for by ``cfg.exp_manager``.

    Args:
        cfg: The composed experiment config (``trainer`` / ``exp_manager`` / ``model``).
        command: ``"train"``, ``"test"`` or ``"predict"``; only ``train`` checkpoints and
            resumes.
        argv: Command line to record (default ``sys.argv``).
        rank: Global rank (default: from the environment, as Lightning sets it).

    Returns:
        The :class:`Experiment`; call :meth:`Experiment.close` when the run ends.

    Example:
        >>> exp = setup_experiment(cfg)                       # doctest: +SKIP
        >>> trainer = build_trainer(cfg, exp)                 # doctest: +SKIP
        >>> trainer.fit(model, ckpt_path=exp.ckpt_path)       # doctest: +SKIP
    """
    em = ExpManagerConfig.from_config(_plain(cfg.get("exp_manager")))
    rank = _global_rank() if rank is None else rank
    training = command == "train"
    name = str(em.name or cfg.get("name") or cfg.model.model_name)
    resume = training and em.resume_if_exists and not em.resume_from_checkpoint
    run_dir = log_dir.resolve_log_dir(em.exp_dir, name, em.version, em.use_datetime_version,
                                      resume=resume, rank=rank, create=False)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = run_dir / "checkpoints"
    out_dir = Path(em.output_dir).expanduser().resolve() if em.output_dir else run_dir
    exp = Experiment(em, name, run_dir, ckpt_dir, out_dir,
                     atommic_path=ckpt_dir / f"{name}.atommic", created=created, rank=rank)
    out_dir.mkdir(parents=True, exist_ok=True)
    defaulted = em.seed is None and cfg.get("seed") is None
    seed = resolve_seed(cfg, em)
    if rank == 0:
        log_dir.write_run_files(run_dir, cfg, argv)
    if rank == 0 or not em.log_global_rank_0_only:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        exp._handler = log_dir.add_file_logging(run_dir, rank, local_rank)
    LOG.info("%s: log dir %s", command, run_dir)
    seed_run(cfg, em)
    LOG.info("seed %d%s", seed, " (the default; set seed: N to change it)" if defaulted else "")
    section = _plain(cfg.get("trainer"))
    if section.get("logger", True) is not False:
        exp.loggers = loggers.build_loggers(em, run_dir, name)
    if training:
        exp.callbacks = _train_callbacks(em, cfg, exp, section)
        exp.ckpt_path = checkpointing.find_resume_checkpoint(em, ckpt_dir)
        if exp.ckpt_path is None and not em.resume_from_checkpoint:
            _mention_interrupted_run(run_dir)
    return exp


def build_trainer(cfg: Any, exp: Experiment, **overrides: Any) -> Any:
    """The ``pytorch_lightning.Trainer`` for ``cfg.trainer`` with the experiment's extras.

    Args:
        cfg: The composed experiment config.
        exp: From :func:`setup_experiment`.
        **overrides: Trainer arguments that win over the config (e.g. ``devices=1``).

    Returns:
        The trainer. Unless the config says otherwise, ``default_root_dir`` is the run
        folder and the progress bar shows only in a terminal (plain log lines otherwise).
    """
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from atommic_core.callbacks import PlainProgressLog

    kwargs = trainer_kwargs(_plain(cfg.get("trainer")))
    kwargs.update(overrides)
    callbacks = list(exp.callbacks)
    user_callbacks = kwargs.pop("callbacks", None) or []
    callbacks.extend(user_callbacks if isinstance(user_callbacks, list) else [user_callbacks])
    kwargs.setdefault("enable_progress_bar", _is_terminal())
    if not kwargs["enable_progress_bar"]:
        every = kwargs.get("log_every_n_steps") or 50
        callbacks.append(PlainProgressLog(every))
    if kwargs.get("logger", True) is not False:
        user_loggers = kwargs.get("logger")
        extra = [] if user_loggers in (None, True) else (
            list(user_loggers) if isinstance(user_loggers, list) else [user_loggers])
        kwargs["logger"] = [*exp.loggers, *extra] or False
    kwargs.setdefault("default_root_dir", str(exp.log_dir))
    if not any(isinstance(cb, ModelCheckpoint) for cb in callbacks):
        kwargs.setdefault("enable_checkpointing", False)
    return pl.Trainer(callbacks=callbacks, **kwargs)
