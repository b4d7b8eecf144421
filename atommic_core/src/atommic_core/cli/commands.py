"""``train``, ``test`` and ``predict``: compose the config, check it, run the Trainer.

Pseudocode of ``train``::

    cfg = compose(yaml, overrides); validate(cfg)        # one-line errors, nothing written
    exp = setup_experiment(cfg)                           # exp_dir/name/version, loggers, ...
    model = Registry[model_name](cfg.model, trainer); load model.init_from weights
    trainer.fit(model, ckpt_path=<resume checkpoint>)     # <name>.atommic written at the end
    if model.test_ds: trainer.test(model)                 # with the exported weights
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from atommic_core.cli.config import compose_config, resolve_model_class, validate_config
from atommic_core.errors import ConfigError

__all__ = ["resume_command", "run_command"]

LOG = logging.getLogger("atommic_core.cli")
_EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def _not_an_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (in-process runs may swap it between calls)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _setup_console_logging() -> None:
    from lightning_fabric.utilities.rank_zero import _get_rank

    logger = logging.getLogger("atommic_core")
    if any(getattr(h, "_atommic_console", False) for h in logger.handlers):
        return
    # Lightning advertises a cloud service on every run; keep run logs about the run.
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_not_an_advert)
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("[atommic] %(message)s"))
    handler._atommic_console = True  # type: ignore[attr-defined]
    # Other ranks of a multi-process run only report problems.
    handler.setLevel(logging.INFO if not _get_rank() else logging.WARNING)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _plain_model_cfg(cfg: Any) -> Any:
    from omegaconf import OmegaConf

    # Resolve interpolations against the whole config, then detach the model section.
    return OmegaConf.create(OmegaConf.to_container(cfg.model, resolve=True))


def _write_json(path: Path, payload: Any) -> None:
    from atommic_core.exp_manager.log_dir import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(payload, indent=2, default=float) + "\n")


def _build_model(model_cls: type, model_cfg: Any) -> Any:
    """``model_cls(model_cfg)``; a value the model rejects is a config error (one line)."""
    from atommic_core.errors import AtommicError

    try:
        return model_cls(model_cfg, None)
    except AtommicError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"model ({model_cls.__name__}): {exc}") from exc


def resume_command(config_path: str | None, config_name: str, overrides: list[str],
                   version: str) -> str:
    """The shell command that continues run ``version`` where it stopped.

    Args:
        config_path: ``--config-path`` of the interrupted command (None if not given).
        config_name: ``--config-name`` of the interrupted command.
        overrides: Its overrides; resume/version overrides are replaced.
        version: The run folder's version.

    Returns:
        ``python -m atommic_core train ... exp_manager.resume_if_exists=true
        exp_manager.version=<version>``, quoted for a POSIX shell.
    """
    import shlex

    keep = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] not in (
        "exp_manager.resume_if_exists", "exp_manager.version")]
    args = ["python", "-m", "atommic_core", "train"]
    if config_path is not None:
        args += ["--config-path", str(Path(config_path).expanduser().resolve())]
    args += ["--config-name", config_name, *keep, "exp_manager.resume_if_exists=true",
             f"exp_manager.version={version}"]
    return " ".join(shlex.quote(a) for a in args)


def _train(cfg: Any, model_cls: type, command_line: tuple | None = None) -> int:
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from atommic_core.callbacks import AtommicExport, SignalCheckpoint
    from atommic_core.cli.init_weights import load_initial_weights
    from atommic_core.exp_manager import build_trainer, seed_run, setup_experiment

    # Model and data first: their errors are one line before any run folder exists.
    seed = seed_run(cfg)
    model = _build_model(model_cls, _plain_model_cfg(cfg))
    model._atommic_card_run = {"seed": seed}  # for the model card of the .atommic archive
    model.check_data("train")
    em = cfg.get("exp_manager") or {}
    resuming = bool(em.get("resume_if_exists") or em.get("resume_from_checkpoint"))
    if not resuming:
        load_initial_weights(model, model.cfg)
    exp = setup_experiment(cfg, "train")
    trainer = None
    try:
        trainer = build_trainer(cfg, exp)
        if exp.ckpt_path is None and resuming:  # nothing to resume: a fresh start after all
            load_initial_weights(model, model.cfg)
        elif model.cfg.get("init_from") or model.cfg.get("pretrained"):
            LOG.info("resuming: model.init_from/pretrained ignored (weights come from %s)",
                     exp.ckpt_path)
        model.output_dir = str(exp.output_dir)
        try:
            trainer.fit(model, ckpt_path=exp.ckpt_path)
        except SIGTERMException:
            sig = exp.callback(SignalCheckpoint)
            received = sig.received if sig is not None else "SIGTERM"
            where = sig.checkpoint_path if sig is not None else None
            LOG.warning("train interrupted by %s at step %d; checkpoint: %s", received,
                        trainer.global_step, where or "(none written)")
            if where is not None and command_line is not None:
                LOG.warning("to continue this run exactly where it stopped:\n  %s",
                            resume_command(*command_line, exp.log_dir.name))
            return _EXIT_SIGNAL.get(received or "SIGTERM", 143)
        except SystemExit:  # after SIGTERMException (a SystemExit): Lightning's exit(1)
            sig = exp.callback(SignalCheckpoint)
            if sig is None or not sig.aborted:
                raise
            LOG.warning("train aborted by a second Ctrl-C at step %d; no checkpoint written",
                        trainer.global_step)
            return _EXIT_SIGNAL["SIGINT"]
        export = exp.callback(AtommicExport)
        if export is not None and export.exported_path is not None:
            LOG.info("train: wrote %s (%s weights)", export.exported_path, export.source)
        if model.cfg.get("test_ds") is not None:
            results = trainer.test(model)
            if trainer.is_global_zero:
                _write_json(exp.output_dir / "test_results.json", results)
                if export is not None and export.exported_path is not None:
                    _card_with_metrics(export.exported_path, model, results)
        _publish(cfg, export, trainer)
        LOG.info("train: done at step %d; log dir %s", trainer.global_step, exp.log_dir)
        return 0
    except Exception as exc:
        exp.record_failure(exc, trainer.global_step if trainer is not None else 0)
        raise
    finally:
        exp.close()


def _publish(cfg: Any, export: Any, trainer: Any) -> None:
    """Copy the archive to the local pretrained folder when ``publish_pretrained`` is set."""
    name = (cfg.get("exp_manager") or {}).get("publish_pretrained")
    if not name or export is None or export.exported_path is None or \
            not trainer.is_global_zero:
        return
    from atommic_core.model.pretrained import publish

    LOG.info("train: published %s as pretrained model %r (%s)", export.exported_path, name,
             publish(export.exported_path, str(name)))


def _card_with_metrics(archive: Any, model: Any, results: list[dict[str, Any]]) -> None:
    """Add the test metrics that followed training to the archive's model card."""
    from atommic_core.model._save_restore import refresh_model_card

    metrics = results[0] if len(results) == 1 else {
        f"dataloader_{i}/{k}": v for i, r in enumerate(results) for k, v in r.items()}
    refresh_model_card(archive, model, metrics)
    LOG.info("train: model card of %s updated with the test metrics", archive)


def _restore(cfg: Any, model_cls: type) -> Any:
    """The model to evaluate, with its weights; nothing is written yet.

    ``model.restore_path`` may be a ``.atommic`` archive (its stored config, with the run's
    data sections and evaluation keys) or a Lightning checkpoint (the run's config, the
    checkpoint's weights). Without it (allowed for ``requires_training = False`` models only)
    the model is built from the config.
    """
    from atommic_core.model._checkpoint_file import file_kind, read_lightning_checkpoint

    model_cfg = _plain_model_cfg(cfg)
    if not model_cfg.get("restore_path"):
        return _build_model(model_cls, model_cfg)
    path = str(Path(str(model_cfg.restore_path)).expanduser())
    if file_kind(path) != "atommic":
        checkpoint = read_lightning_checkpoint(path)
        model = _build_model(model_cls, model_cfg)
        _load_checkpoint_weights(model, checkpoint, path)
        return model
    from omegaconf import OmegaConf, open_dict

    stored = model_cls.restore_from(path, return_config=True)
    with open_dict(stored):
        # The run's data sections and evaluation keys win over those stored at training time.
        for key in ("train_ds", "validation_ds", "test_ds", "predict_ds",
                    *getattr(model_cls, "evaluation_keys", ())):
            value = model_cfg.get(key)
            if value is not None:
                stored[key] = OmegaConf.create(OmegaConf.to_container(value)) \
                    if OmegaConf.is_config(value) else value
    return model_cls.restore_from(path, override_config_path=stored, map_location="cpu")


def _load_checkpoint_weights(model: Any, checkpoint: dict[str, Any], path: str) -> None:
    """Load a Lightning checkpoint's weights, or say in one line why they do not fit."""
    from atommic_core.model._save_restore import state_mismatch

    state = checkpoint["state_dict"]
    summary = state_mismatch(model.state_dict(), state)
    if summary:
        stored = ((checkpoint.get("hyper_parameters") or {}).get("cfg") or {})
        trained = stored.get("model_name") if isinstance(stored, dict) else None
        origin = f" (it was trained as model_name={trained})" if trained else ""
        raise ConfigError(f"model.restore_path: {path} does not fit {type(model).__name__}"
                          f"{origin}: {summary}; hint: use the config it was trained with")
    model.load_state_dict(state)


def _grouped(loaders: Any) -> bool:
    """Whether every loader's dataset has ``example_groups``.

    :meth:`~atommic_core.ModelPT.build_dataloader` then deals whole groups (volumes, cases)
    to ranks: each rank holds complete, distinct groups and all ranks write into one folder.
    """
    loaders = loaders if isinstance(loaders, list | tuple) else [loaders]
    return bool(loaders) and all(getattr(getattr(dl, "dataset", None), "example_groups", None)
                                 is not None for dl in loaders)


def _evaluate(command: str, cfg: Any, model_cls: type) -> int:
    from atommic_core.exp_manager import build_trainer, seed_run, setup_experiment

    # Weights and data first: their errors are one line before any run folder exists.
    seed_run(cfg)
    model = _restore(cfg, model_cls)
    if command == "predict" and model.cfg.get("predict_ds") is None:  # the test set
        from omegaconf import open_dict

        with open_dict(model.cfg):
            model.cfg.predict_ds = model.cfg.test_ds
    model.check_data(command)
    exp = setup_experiment(cfg, command)
    try:
        trainer = build_trainer(cfg, exp)
        model.output_dir = str(exp.output_dir)
        if command == "test":
            results = trainer.test(model)
            if trainer.is_global_zero:
                _write_json(exp.output_dir / "test_results.json", results)
            LOG.info("test: results in %s", exp.output_dir / "test_results.json")
            return 0
        outputs = trainer.predict(model) or []
        out_dir = exp.output_dir / "predictions"
        if trainer.world_size > 1 and not _grouped(trainer.predict_dataloaders):
            out_dir = out_dir / f"rank_{trainer.global_rank}"  # each rank: the part it saw
        out_dir.mkdir(parents=True, exist_ok=True)
        written = model.write_predictions(outputs, str(out_dir))
        LOG.info("predict: wrote %d file(s) to %s", len(written or []), out_dir)
        return 0
    except Exception as exc:
        exp.record_failure(exc)
        raise
    finally:
        exp.close()


def run_command(command: str, config_path: str | None, config_name: str,
                overrides: list[str], print_only: bool = False) -> int:
    """Compose and validate the config, resolve the model, then run ``command``.

    Args:
        command: ``"train"``, ``"test"`` or ``"predict"``.
        config_path: Folder of the YAML file (None: search installed collections).
        config_name: YAML file name.
        overrides: Hydra overrides.
        print_only: Print the composed config and return.

    Returns:
        The process exit code: 0 on success, 130 / 143 when Ctrl-C / SIGTERM stopped
        training (after writing a resumable checkpoint).

    Raises:
        ConfigError: for any configuration problem, as one line.
    """
    from omegaconf import OmegaConf

    cfg = compose_config(config_path, config_name, overrides)
    model_cls = resolve_model_class(cfg)
    if print_only:
        print(OmegaConf.to_yaml(cfg), end="")
        return 0
    validate_config(cfg, command, model_cls)
    _setup_console_logging()
    from pytorch_lightning.utilities.exceptions import MisconfigurationException

    try:
        if command == "train":
            return _train(cfg, model_cls, (config_path, config_name, list(overrides)))
        return _evaluate(command, cfg, model_cls)
    except MisconfigurationException as exc:  # e.g. a monitored metric that is never logged
        raise ConfigError(" ".join(str(exc).split())) from exc
