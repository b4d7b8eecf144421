"""The label path of the joint chain: transforms that move ``segmentation`` with the image.

They register in REC's transform registry (:func:`atommic_rec.transforms.register_transform`),
so a YAML ``transforms`` list can mix them with REC's. Each is a no-op on samples without a
``segmentation`` key (prediction data; REC's private copy of the chain that computes a
volume's target maximum).

- ``segmentation_crop`` / ``segmentation_pad``: the centre crop/zero pad that REC's ``crop``
  / ``pad`` apply to the image grid (:func:`~atommic_rec.transforms.center_crop_or_pad`, so
  both keep the same centre pixel).
- ``joint_augment``: REC's physics-consistent training augmentation (global phase, flips,
  transpose, coil order, scale) with the labels flipped and transposed alike; training only,
  before ``mask``.
- ``joint_finalize``: REC's ``finalize`` plus ``segmentation`` and ``spacing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from atommic_rec.transforms import Augment, Finalize, center_crop_or_pad, register_transform

__all__ = ["JointAugment", "JointFinalize", "SegmentationCrop", "SegmentationPad"]


class _SegmentationResize:
    """Centre crop or zero pad ``segmentation`` to ``size`` (background fills the padding)."""

    label = ""

    def __init__(self, size: Sequence[int]) -> None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"{self.label}: expected size [H, W] of positive ints; found "
                             f"{list(size)}")
        self.size = tuple(int(s) for s in size)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Resize the labels' last two axes; samples without labels pass unchanged."""
        if sample.get("segmentation") is None:
            return sample
        return {**sample, "segmentation": center_crop_or_pad(sample["segmentation"], self.size)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={list(self.size)})"


class SegmentationCrop(_SegmentationResize):
    """Centre-crop labels like REC's ``crop`` crops the image (``{name: segmentation_crop}``).

    Args:
        size: Output ``[H, W]``; use the size of the ``crop`` step it accompanies.
    """

    label = "segmentation_crop"


class SegmentationPad(_SegmentationResize):
    """Zero-pad labels like REC's ``pad`` pads the image (``{name: segmentation_pad}``).

    Args:
        size: Output ``[H, W]``; use the size of the ``pad`` step it accompanies.
    """

    label = "segmentation_pad"


class JointAugment(Augment):
    """REC's physics-consistent augmentation, with the labels moved like the image.

    YAML ``{name: joint_augment, global_phase: true, flip: 0.5, transpose: 0.5,
    coil_permutation: true}``, or ``train_ds.augmentations`` with the same keys (the joint
    chain then runs it on the training split, before ``mask``, in place of REC's
    ``augment``). k-space, maps, target and a stored mask change as in
    :class:`~atommic_rec.transforms.Augment`; ``segmentation`` gets the same flips and
    transpose (a global phase, coil order or intensity scale leaves labels unchanged), and a
    transpose swaps the in-plane ``spacing``.

    Args:
        **kwargs: Arguments of :class:`~atommic_rec.transforms.Augment`.
    """

    def _flip_transpose(self, sample: dict[str, Any], flips: list[int], transpose: bool) -> None:
        labels = sample.get("segmentation")
        grid = tuple(sample["kspace"].shape[d] for d in self.fft.spatial_dims)
        if labels is not None and tuple(labels.shape[-2:]) != grid:
            raise ValueError(f"joint_augment: expected labels on the k-space grid {list(grid)} "
                             f"to flip or transpose them; found {list(labels.shape)}; crop "
                             "k-space and labels together (crop_size)")
        super()._flip_transpose(sample, flips, transpose)
        if labels is not None:
            labels = labels.flip(flips) if flips else labels
            sample["segmentation"] = labels.transpose(-2, -1) if transpose else labels
        if transpose and sample.get("spacing") is not None:
            slice_mm, row_mm, col_mm = (float(v) for v in sample["spacing"])
            sample["spacing"] = (slice_mm, col_mm, row_mm)

    def __repr__(self) -> str:
        return "Joint" + super().__repr__()


class JointFinalize(Finalize):
    """REC's sample dict (see :class:`~atommic_rec.transforms.Finalize`) plus the labels.

    YAML ``{name: joint_finalize}``. Adds ``segmentation`` (int64 ``[H, W]`` class indices or
    float32 ``[K, H, W]`` channels, on the target's grid) when the sample has labels, and
    ``spacing`` (float64 ``[3]``, mm).

    Args:
        keep_kspace: Also keep the fully sampled ``kspace``.
        require_segmentation: A sample without labels is an error (False for prediction).
    """

    def __init__(self, keep_kspace: bool = False, require_segmentation: bool = True) -> None:
        super().__init__(keep_kspace)
        self.require_segmentation = bool(require_segmentation)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Check and convert ``sample``; labels must cover the target's grid."""
        out = super().__call__(sample)
        labels = sample.get("segmentation")
        if labels is None:
            if self.require_segmentation:
                raise ValueError(f"sample of {sample.get('fname')!r}: expected key "
                                 "'segmentation'; found none; add labels to the file")
        else:
            grid = tuple(out["target"].shape[-2:])
            if tuple(labels.shape[-2:]) != grid:
                size = list(labels.shape[-2:])
                raise ValueError(f"segmentation: expected the image grid {list(grid)}; found "
                                 f"{size}; set crop_size: {size} (labels on the cropped target "
                                 "grid) or crop both")
            out["segmentation"] = labels.contiguous()
        out["spacing"] = torch.as_tensor(sample.get("spacing", (1.0, 1.0, 1.0)),
                                         dtype=torch.float64)
        return out

    def __repr__(self) -> str:
        return f"JointFinalize(keep_kspace={self.keep_kspace})"


register_transform("segmentation_crop", SegmentationCrop)
register_transform("segmentation_pad", SegmentationPad)
register_transform("joint_augment", JointAugment)
register_transform("joint_finalize", JointFinalize)
