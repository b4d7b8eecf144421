"""A collection's own command line (``python -m atommic_<x> COMMAND ...``): one dispatcher.

Collections ship small tools beside the core CLI (demo data, demos, converters); they all
share the same usage text, ``--help`` and unknown-command behaviour through :func:`dispatch`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["Subcommand", "dispatch"]

#: ``(usage line after the command name, what it does, function argv -> exit status)``
Subcommand = tuple[str, str, Callable[[Sequence[str]], int]]


def dispatch(prog: str, commands: Mapping[str, Subcommand],
             argv: Sequence[str] | None = None) -> int:
    """Run ``commands[argv[0]]`` on the remaining arguments.

    Args:
        prog: The program, e.g. ``"python -m atommic_qi"``.
        commands: Name -> :data:`Subcommand`.
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The command's exit status; without a known command the usage goes to stderr and the
        status is 0 for ``-h``/``--help``, else 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in commands:
        lines = [f"  {f'{name} {args}'.strip():<20} {text}"
                 for name, (args, text, _) in commands.items()]
        print(f"usage: {prog} {{{','.join(commands)}}} ...\n" + "\n".join(lines),
              file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return commands[argv[0]][2](argv[1:])
