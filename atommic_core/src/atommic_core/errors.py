"""Exceptions and warnings shared by the core and every collection.

They carry one-line messages meant for researchers: what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AtommicError",
    "ConfigError",
    "DataSkipWarning",
    "NonFiniteError",
    "PluginError",
    "PluginLoadWarning",
    "UnknownNameError",
]


class AtommicError(Exception):
    """Base class of every error atommic raises on purpose."""


class ConfigError(AtommicError, ValueError):
    """A configuration value is missing, misspelled or of the wrong type."""


class NonFiniteError(AtommicError, ValueError):
    """A loss, a weight or a data item holds NaN or Inf where finite numbers are needed."""


class PluginError(AtommicError):
    """A plugin failed to load or registered something invalid (e.g. a duplicate name)."""


class DataSkipWarning(UserWarning):
    """A data file or case was skipped (``skip_bad_files: true``); the message says why."""


class PluginLoadWarning(RuntimeWarning):
    """A plugin failed to load and is skipped; the others keep working.

    Set ``ATOMMIC_STRICT_PLUGINS=1`` to turn the failure into an immediate ``PluginError``.
    """


class UnknownNameError(AtommicError, KeyError):
    """A registry has no entry of that name; the message lists close matches.

    Args:
        message: The one-line message shown to the user.
        name: The name that was looked up.
        available: Every name the registry holds.
        suggestions: The closest matches, best first.

    Example:
        >>> err = UnknownNameError("Unknown model 'VarNt'.", name="VarNt",
        ...                        available=["VarNet"], suggestions=["VarNet"])
        >>> isinstance(err, KeyError), err.suggestions
        (True, ['VarNet'])
    """

    def __init__(
        self,
        message: str,
        *,
        name: object = None,
        available: Sequence[str] = (),
        suggestions: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.name = name
        self.available = list(available)
        self.suggestions = list(suggestions)

    def __str__(self) -> str:  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""
