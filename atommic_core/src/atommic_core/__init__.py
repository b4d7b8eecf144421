"""atommic core: the task-agnostic base of the atommic MR-imaging toolkit.

Importing this package is cheap: ``ModelPT`` (and with it torch and Lightning) loads only
when first accessed, so plugins' ``plugin.py`` and ``python -m atommic_core --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from atommic_core.hookspecs import hookimpl
from atommic_core.pretrained import PretrainedModelInfo

__all__ = [
    "ArchiveError",
    "ArtifactError",
    "ChecksumError",
    "FreezeUpdates",
    "MissingDistributionError",
    "ModelPT",
    "PretrainedModelInfo",
    "__version__",
    "hookimpl",
]

__version__ = "0.1.0"

# name -> module that defines it; imported on first access (PEP 562)
_LAZY = {
    "ModelPT": "atommic_core.model.modelpt",
    "FreezeUpdates": "atommic_core.model.freezing",
    "ArchiveError": "atommic_core.model._archive",
    "ArtifactError": "atommic_core.model.artifacts",
    "ChecksumError": "atommic_core.model.pretrained",
    "MissingDistributionError": "atommic_core.model._manifest",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'atommic_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
