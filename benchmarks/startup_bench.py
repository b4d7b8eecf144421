"""Wall time of the CLI's listing commands, and whether they import torch or Lightning.

Usage::

    .venv/bin/python benchmarks/startup_bench.py [--rounds 5]
        [--python after=.venv/bin/python --python before=/path/to/other/.venv/bin/python]

Each round runs every command once with every interpreter, alternating, so that load on a
shared machine hits all of them alike. Prints one line per (interpreter, command): median,
min and max wall seconds over the rounds, the median CPU seconds (user + system of the child,
which other jobs on a busy machine inflate far less than wall time), and the heavy modules
the command imported (from ``-X importtime``). The interpreters' trees are whatever they have
installed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = (("list",), ("list", "models"), ("list", "optimizers"))  # the three
HEAVY = ("torch", "lightning", "pytorch_lightning")


def heavy_imports(python: str, argv: tuple[str, ...]) -> list[str]:
    """Top-level heavy packages ``python -m atommic_core *argv`` imports (``-X importtime``)."""
    proc = subprocess.run([python, "-X", "importtime", "-m", "atommic_core", *argv],
                          capture_output=True, text=True, check=False)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:")}
    return [h for h in HEAVY if h in names]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(python: str, argv: tuple[str, ...]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``python -m atommic_core *argv`` (output discarded)."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run([python, "-m", "atommic_core", *argv], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", action="append", default=[],
                        help="label=path of an interpreter (repeatable; default: this one)")
    args = parser.parse_args()
    pythons = dict(p.split("=", 1) for p in args.python) or {"this": sys.executable}
    times: dict[tuple[str, tuple[str, ...]], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for argv in COMMANDS:
            for label, python in pythons.items():
                times.setdefault((label, argv), []).append(time_once(python, argv))
    print(f"{'interpreter':<12} {'command':<16} {'median_s':>9} {'min_s':>7} {'max_s':>7} "
          f"{'cpu_s':>6}  heavy imports (rounds={args.rounds})")
    for (label, argv), values in times.items():
        wall = [w for w, _ in values]
        cpu = statistics.median(c for _, c in values)
        heavy = ", ".join(heavy_imports(pythons[label], argv)) or "none"
        print(f"{label:<12} {' '.join(argv):<16} {statistics.median(wall):9.2f} "
              f"{min(wall):7.2f} {max(wall):7.2f} {cpu:6.2f}  {heavy}")


if __name__ == "__main__":
    main()
