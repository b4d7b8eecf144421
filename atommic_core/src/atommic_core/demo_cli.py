"""Pieces shared by the collections' ``demo`` commands (``python -m atommic_<task> demo``).

Every demo makes its data, trains through the real CLI and prints a comparison; they share
their command-line surface (output folder, threads, data size, Hydra overrides) and the
``trainer.max_time`` format. Kept free of torch imports: parsing stays instant.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["default_threads", "demo_parser", "trainer_max_time"]


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set to a positive number, else up to 2 of this machine's CPUs.

    The demos' numbers are reproducible for a given thread count, so an explicit setting wins.
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else min(2, os.cpu_count() or 1)


def trainer_max_time(minutes: float) -> str:
    """Lightning's ``trainer.max_time`` (``DD:HH:MM:SS``) for ``minutes`` (at least 1 s)."""
    seconds = max(int(minutes * 60), 1)
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def demo_parser(collection: str, description: str | None, *, out: str, coils: int, size: int,
                model: str) -> argparse.ArgumentParser:
    """The demo's parser with the shared options; the caller adds ``--steps``/``--minutes``.

    Args:
        collection: Package name, e.g. ``"atommic_rec"`` (for the program name).
        description: Help text (the demo module's docstring).
        out: Default output folder.
        coils: Default number of coils of the demo data.
        size: Default image size of the demo data.
        model: The trained model, for the overrides' help.
    """
    p = argparse.ArgumentParser(prog=f"python -m {collection} demo", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=out, help="folder for data, runs and previews")
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="torch threads (default: OMP_NUM_THREADS, else up to 2; numbers are "
                        "reproducible for a given thread count)")
    p.add_argument("--coils", type=int, default=coils)
    p.add_argument("--size", type=int, default=size)
    p.add_argument("overrides", nargs="*", help=f"extra Hydra overrides for the {model} run")
    return p
