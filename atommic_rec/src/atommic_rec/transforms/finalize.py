"""Last transform: check the sample contract and fix dtypes so default collate works."""

from __future__ import annotations

import math
from typing import Any

import torch

from atommic_rec.transforms.compose import register_transform

__all__ = ["OPTIONAL_KEYS", "SAMPLE_KEYS", "Finalize"]

# key -> (dtype or python type, transform that produces it)
SAMPLE_KEYS: dict[str, tuple[Any, str]] = {
    "masked_kspace": (torch.complex64, "mask"),
    "sensitivity_maps": (torch.complex64, "sensitivity_maps"),
    "mask": (torch.float32, "mask"),
    "initial_image": (torch.complex64, "initial_image"),
    "target": (torch.float32, "target"),
    "max_value": (float, "target"),
    "scale": (float, "normalize"),
    "acceleration": (float, "mask"),
    "fname": (str, "the dataset"),
    "slice_idx": (int, "the dataset"),
}

# optional keys kept when a transform made them (SSDU training: see transforms/ssdu.py)
OPTIONAL_KEYS: dict[str, torch.dtype] = {"ssdu_loss_mask": torch.float32,
                                         "ssdu_loss_kspace": torch.complex64}


class Finalize:
    """Return exactly the REC sample dict (YAML ``{name: finalize}``), with fixed dtypes.

    Output keys: ``masked_kspace`` complex64 ``[C, H, W]``, ``sensitivity_maps`` complex64
    ``[C, H, W]``, ``mask`` float32 broadcastable to ``[C, H, W]``, ``initial_image`` complex64
    ``[H, W]``, ``target`` float32 ``[H, W]``, ``max_value``, ``scale`` and ``acceleration``
    floats, ``fname`` str, ``slice_idx`` int. ``scale`` defaults to 1.0 without ``normalize``.
    The :data:`OPTIONAL_KEYS` (SSDU's loss mask and k-space) are kept when present.

    Args:
        keep_kspace: Also keep the fully sampled ``kspace`` (complex64 ``[C, H, W]``).
    """

    def __init__(self, keep_kspace: bool = False) -> None:
        self.keep_kspace = bool(keep_kspace)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Check and convert ``sample``; a missing key names the transform to add."""
        sample = {"scale": 1.0, **sample}
        out: dict[str, Any] = {}
        for key, (kind, producer) in SAMPLE_KEYS.items():
            value = sample.get(key)
            if value is None or (kind is float and math.isnan(float(value))):
                raise ValueError(f"sample of {sample.get('fname')!r}: expected key {key!r}; "
                                 f"found keys {sorted(sample)}; add {producer!r} to transforms")
            out[key] = value.to(kind).contiguous() if isinstance(kind, torch.dtype) else kind(value)
        for key, kind in OPTIONAL_KEYS.items():
            if sample.get(key) is not None:
                out[key] = sample[key].to(kind).contiguous()
        if self.keep_kspace:
            out["kspace"] = sample["kspace"].to(torch.complex64)
        return out

    def __repr__(self) -> str:
        return f"Finalize(keep_kspace={self.keep_kspace})"


register_transform("finalize", Finalize)
