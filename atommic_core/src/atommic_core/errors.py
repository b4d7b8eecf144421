"""Exceptions shared by the core and every collection.

They carry one-line messages meant for researchers: what was wrong and how to fix it.
"""

from __future__ import annotations

__all__ = ["AtommicError", "ConfigError", "PluginError", "UnknownNameError"]


class AtommicError(Exception):
    """Base class of every error atommic raises on purpose."""


class ConfigError(AtommicError, ValueError):
    """A configuration value is missing, misspelled or of the wrong type."""


class PluginError(AtommicError):
    """A plugin failed to load or registered something invalid (e.g. a duplicate name)."""


class UnknownNameError(AtommicError, KeyError):
    """A registry has no entry of that name; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""
