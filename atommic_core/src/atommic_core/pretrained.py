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

    def __post_init__(self) -> None:
        for key in ("pretrained_model_name", "location"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"PretrainedModelInfo.{key}: expected a non-empty string, "
                                 f"found {value!r}")
        if self.sha256 is not None and not (len(self.sha256) == 64 and all(
                c in "0123456789abcdef" for c in self.sha256.lower())):
            raise ValueError(f"PretrainedModelInfo.sha256: expected 64 hex digits, found "
                             f"{self.sha256!r}")
