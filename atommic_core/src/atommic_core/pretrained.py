"""Description of a pretrained model a plugin offers (no torch import here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PretrainedModelInfo"]


@dataclass(frozen=True)
class PretrainedModelInfo:
    """One entry of the pretrained-model registry.

    Args:
        pretrained_model_name: The name users pass to ``from_pretrained``.
        description: One sentence on what the model does and what it was trained on.
        location: Local path, ``file://`` URL or ``https://`` URL of the ``.atommic`` archive.
        class_: The :class:`~atommic_core.ModelPT` subclass (or its dotted path) to restore.
        sha256: Optional hex digest; when given the fetched archive is verified against it.
    """

    pretrained_model_name: str
    description: str
    location: str
    class_: Any = None
    sha256: str | None = None
