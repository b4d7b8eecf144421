"""An example third-party atommic plugin: the LAMB optimizer and a cosine-restarts scheduler.

The classes live in :mod:`atommic_example_plugin.optim`; the entry module
:mod:`atommic_example_plugin.plugin` names them by lazy reference. This package stays empty of
imports so that loading the entry module (which imports the package first) never pulls torch;
the names below are imported on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Lamb", "LambParams", "WarmupCosineRestarts", "WarmupCosineRestartsParams"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("atommic_example_plugin.optim"), name)
    raise AttributeError(f"module 'atommic_example_plugin' has no attribute {name!r}")
