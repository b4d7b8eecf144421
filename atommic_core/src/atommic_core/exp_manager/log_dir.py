"""The run folder ``exp_dir/name/version`` and the files that describe a run."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "VERSION_ENV",
    "add_file_logging",
    "find_resumable_version",
    "remove_file_logging",
    "resolve_log_dir",
    "write_atomic",
    "write_run_files",
]

VERSION_ENV = "ATOMMIC_EXP_VERSION"
"""Rank 0 publishes the chosen version here so DDP workers it launches use the same folder."""

LOG = logging.getLogger("atommic_core.exp_manager")
_LOGGER_NAMES = ("atommic_core", "pytorch_lightning", "lightning_fabric", "lightning")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _has_checkpoints(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("*.ckpt"))


def find_resumable_version(name_dir: Path) -> str | None:
    """The newest run folder under ``exp_dir/name`` that holds a checkpoint, if any."""
    if not name_dir.is_dir():
        return None
    runs = [d for d in name_dir.iterdir() if d.is_dir() and _has_checkpoints(d)]
    if not runs:
        return None
    return max(runs, key=lambda d: d.stat().st_mtime).name


def _next_version(name_dir: Path, use_datetime: bool) -> str:
    if not use_datetime:
        taken = [int(d.name.split("_")[1]) for d in name_dir.glob("version_*")
                 if d.name.split("_")[1].isdigit()] if name_dir.is_dir() else []
        return f"version_{max(taken, default=-1) + 1}"
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    version, n = stamp, 1
    while (name_dir / version).exists():  # two runs in the same second
        version, n = f"{stamp}_{n}", n + 1
    return version


def resolve_log_dir(exp_dir: str | None, name: str, version: str | int | None,
                    use_datetime_version: bool = True, resume: bool = False,
                    rank: int = 0, create: bool = True) -> Path:
    """Choose (and on rank 0 create) the run folder ``exp_dir/name/version``.

    Args:
        exp_dir: Root folder; None means ``./atommic_experiments``.
        name: Experiment name.
        version: Given version, or None to pick one.
        use_datetime_version: Timestamp (True) or ``version_<n>`` (False) when picking.
        resume: Prefer the newest existing run with checkpoints when ``version`` is None.
        rank: Global rank; only rank 0 picks a version, other ranks read :data:`VERSION_ENV`
            (set when Lightning launched them) and raise ``ConfigError`` without it.
        create: Create the folder (with its parents).

    Returns:
        The absolute run folder.
    """
    name_dir = Path(exp_dir or "atommic_experiments").expanduser().resolve() / name
    if version is None:
        version = os.environ.get(VERSION_ENV) if rank > 0 else None
        if version is None and rank > 0:  # torchrun/srun started this rank, not rank 0
            from atommic_core.errors import ConfigError

            raise ConfigError(
                f"rank {rank} of a multi-process run: expected the run folder chosen by rank "
                f"0 or exp_manager.version, found neither (a launcher such as torchrun or srun "
                f"started every process); hint: add +exp_manager.version=<name>, e.g. "
                f"$SLURM_JOB_ID, so that every rank writes into the same run folder")
    if version is None and resume:
        version = find_resumable_version(name_dir)
    if version is None:
        version = _next_version(name_dir, use_datetime_version)
    if rank == 0:
        os.environ[VERSION_ENV] = str(version)
    log_dir = name_dir / str(version)
    if create:
        log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir


def _git_info() -> str | None:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             check=True)
        return out.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
        status = git("status", "--short", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    changes = status or "(clean)"
    return f"commit: {commit}\nbranch: {branch}\nrepository: {os.getcwd()}\nchanges:\n{changes}\n"


def write_run_files(log_dir: Path, cfg: Any, argv: list[str] | None = None) -> list[Path]:
    """Write the composed config, the command line and git info into ``log_dir``.

    Args:
        log_dir: The run folder.
        cfg: The composed experiment config (a ``DictConfig``).
        argv: The command line (default ``sys.argv``).

    Returns:
        The files written: ``config.yaml``, ``cmd-args.log`` and, inside a git work tree,
        ``git-info.log``.
    """
    from omegaconf import OmegaConf

    argv = list(sys.argv if argv is None else argv)
    try:
        text = OmegaConf.to_yaml(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - an unresolvable interpolation: keep it as written
        text = OmegaConf.to_yaml(cfg)
    written = [log_dir / "config.yaml", log_dir / "cmd-args.log"]
    write_atomic(written[0], text)
    write_atomic(written[1], " ".join(shlex.quote(a) for a in [sys.executable, *argv]) + "\n")
    info = _git_info()
    if info is not None:
        written.append(log_dir / "git-info.log")
        write_atomic(written[-1], info)
    return written


def add_file_logging(log_dir: Path, global_rank: int = 0,
                     local_rank: int = 0) -> logging.FileHandler:
    """Copy atommic and Lightning log records into ``log_dir`` (one file per rank).

    Returns:
        The handler writing ``atommic_log_globalrank-<g>_localrank-<l>.txt``; pass it to
        :func:`remove_file_logging` when the run ends.
    """
    path = log_dir / f"atommic_log_globalrank-{global_rank}_localrank-{local_rank}.txt"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    for name in _LOGGER_NAMES:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    return handler


def log_to_file_only(handler: logging.Handler, message: str,
                     exc: BaseException | None = None) -> None:
    """Write an ERROR record (with ``exc``'s traceback) through ``handler`` alone.

    The console shows user errors as one line; the run's log file keeps the whole story.
    """
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.LogRecord("atommic_core.cli", logging.ERROR, __file__, 0, message, None,
                               exc_info)
    handler.handle(record)


def remove_file_logging(handler: logging.Handler) -> None:
    """Detach and close a handler made by :func:`add_file_logging`."""
    for name in _LOGGER_NAMES:
        logging.getLogger(name).removeHandler(handler)
    handler.close()
