"""Lightning callbacks of the core, one concern each.

- :class:`SignalCheckpoint`: SIGTERM / Ctrl-C -> resumable checkpoint, clean stop.
- :class:`AtommicExport`: ``<name>.atommic`` (best, else last weights) at the end of fit.
- :class:`PlainProgressLog`: plain log lines when the output is not a terminal.
- :class:`FiniteGuard`: stop at the first non-finite loss; never checkpoint NaN weights.
- :class:`LoaderWaitMonitor`: time spent waiting for data per training step.
"""

from __future__ import annotations

from atommic_core.callbacks.atommic_export import AtommicExport
from atommic_core.callbacks.finite_guard import FiniteGuard
from atommic_core.callbacks.loader_wait import LoaderWaitMonitor
from atommic_core.callbacks.plain_progress import PlainProgressLog
from atommic_core.callbacks.signal_checkpoint import SignalCheckpoint

__all__ = ["AtommicExport", "FiniteGuard", "LoaderWaitMonitor", "PlainProgressLog",
           "SignalCheckpoint"]
