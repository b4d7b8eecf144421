"""The experiment manager: one run folder per run, with loggers, checkpoints and resume.

Layout of a run (``exp_dir/name/version``)::

    config.yaml          the composed config        cmd-args.log   the command line
    git-info.log         commit and local changes   atommic_log_globalrank-0_localrank-0.txt
    events.out.tfevents.*  TensorBoard              csv/metrics.csv, wandb/ (if enabled)
    checkpoints/         <name>--{val_loss}-{epoch}-{step}.ckpt, <name>--last.ckpt,
                         <name>--interrupted.ckpt (SIGTERM/Ctrl-C), <name>.atommic

Typical use (what ``python -m atommic_core train`` does)::

    exp = setup_experiment(cfg, "train")
    trainer = build_trainer(cfg, exp)
    trainer.fit(model, ckpt_path=exp.ckpt_path)
"""

from __future__ import annotations

from atommic_core.exp_manager.config import ExpManagerConfig
from atommic_core.exp_manager.manager import (
    DEFAULT_SEED,
    Experiment,
    build_trainer,
    resolve_seed,
    seed_run,
    setup_experiment,
)
from atommic_core.exp_manager.trainer import CPU_PRECISIONS, PRECISIONS, trainer_kwargs

__all__ = [
    "CPU_PRECISIONS",
    "DEFAULT_SEED",
    "PRECISIONS",
    "ExpManagerConfig",
    "Experiment",
    "build_trainer",
    "resolve_seed",
    "seed_run",
    "setup_experiment",
    "trainer_kwargs",
]
