"""Built-in learning-rate schedulers with their params dataclasses."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["register_builtin_schedulers"]


def register_builtin_schedulers(register: Callable) -> None:
    """Register the built-ins through the host's ``register``."""
