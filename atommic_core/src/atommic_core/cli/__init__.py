"""Command-line interface: ``train``, ``test``, ``predict`` and ``list``.

Only argparse is imported up front; torch, Lightning and Hydra load inside the commands so
``--help`` answers instantly.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

_RUN_COMMANDS = {
    "train": "fit the model (then test it if model.test_ds is set)",
    "test": "evaluate a model from model.restore_path (.atommic) or a checkpoint",
    "predict": "write model outputs for model.predict_ds (or test_ds) to an output folder",
}
_LIST_WHATS = ("plugins", "models", "optimizers", "schedulers", "configs", "pretrained")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m atommic_core`` (imports nothing heavy).

    Returns:
        The parser; subcommands ``train``, ``test``, ``predict`` and ``list``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m atommic_core",
        description="Train, test and ship deep-learning models for MR imaging.",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in _RUN_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config-path", "-cp", default=None,
                       help="folder of the YAML config (default: search installed collections)")
        p.add_argument("--config-name", "-cn", required=True,
                       help="config file name, with or without .yaml")
        p.add_argument("--verbose", "-v", action="store_true",
                       help="show full tracebacks on errors")
        p.add_argument("--cfg", action="store_true",
                       help="print the composed config and exit without running")
        p.add_argument("overrides", nargs="*",
                       help="Hydra overrides: key=value, +new.key=value, ~removed.key")
    p = sub.add_parser("list", help="list plugins, models, optimizers, schedulers, configs",
                       description="What is installed, and which plugin provides each entry.")
    p.add_argument("what", nargs="?", default="all", choices=("all", *_LIST_WHATS),
                   help="section to list (default: all)")
    p.add_argument("--all", action="store_true", dest="show_all",
                   help="also show modules, hooks and classes, and every name in full")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verbose", "-v", action="store_true", help="show full tracebacks on errors")
    return parser


def _verbose(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "verbose", False)) or os.environ.get("HYDRA_FULL_ERROR") == "1"


def _short_warnings() -> None:
    """Show atommic's own warnings as one ``warning: ...`` line instead of file:line + source."""
    from atommic_core.errors import DataSkipWarning, PluginLoadWarning

    default = warnings.formatwarning
    if getattr(default, "_atommic_short", False):
        return

    def formatwarning(message, category, filename, lineno, line=None):  # type: ignore[no-untyped-def]
        if issubclass(category, (PluginLoadWarning, DataSkipWarning)):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    formatwarning._atommic_short = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatwarning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code.

    Args:
        argv: Arguments without the program name; None reads ``sys.argv[1:]``.

    Returns:
        0 on success, 2 for a usage, config or plugin error (one ``error:`` line on stderr;
        ``--verbose`` or ``HYDRA_FULL_ERROR=1`` shows the traceback), 130 when interrupted.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe must not escape at shutdown
        return code
    except BrokenPipeError:  # e.g. `list | head`: the reader went away, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _one_line(exc: BaseException) -> str:
    """The error's own message, also when a DataLoader worker re-raised it with its traceback.

    PyTorch re-raises a worker's exception as ``Caught X in DataLoader worker process N.
    Original Traceback ...``, whose last line is ``module.X: <message>``.
    """
    text = str(exc).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
        return last[len(prefix):] if last.startswith(prefix) else last
    return text


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None and not args.version:
        parser.print_help()
        return 2
    from atommic_core.errors import AtommicError

    _short_warnings()
    try:
        if args.version:
            from atommic_core.cli.listing import print_versions

            print_versions()
            return 0
        if args.command == "list":
            from atommic_core.cli.listing import run_list

            return run_list(args.what, show_all=args.show_all, as_json=args.json)
        from atommic_core.cli.commands import run_command

        return run_command(args.command, args.config_path, args.config_name, args.overrides,
                           print_only=args.cfg)
    except (AtommicError, FileNotFoundError) as exc:
        if _verbose(args):
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
