"""atommic core: the task-agnostic base of the atommic MR-imaging toolkit.

Importing this package is cheap: ``ModelPT`` (and with it torch and Lightning) loads only
when first accessed, so plugins' ``plugin.py`` and ``python -m atommic_core --help`` stay fast.
"""

from __future__ import annotations

from typing import Any

from atommic_core.hookspecs import hookimpl
from atommic_core.pretrained import PretrainedModelInfo

__all__ = ["ModelPT", "PretrainedModelInfo", "__version__", "hookimpl"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "ModelPT":
        from atommic_core.model.modelpt import ModelPT

        return ModelPT
    raise AttributeError(f"module 'atommic_core' has no attribute {name!r}")
