"""``JointSliceDataset``: REC's :class:`~atommic_rec.data.SliceDataset` plus segmentation labels.

The k-space side (file checks, NaN/Inf checks naming file and slice, masks, targets, volume
maxima, sub-sampling) is REC's dataset, unchanged; this class checks and reads the labels of
the same files and runs the joint transform chain on the combined sample.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch.utils.data import Dataset

from atommic_core.errors import DataSkipWarning
from atommic_mtl.data.labels import LabelInfo, LabelReader, inspect_labels
from atommic_rec.data import DataFileError, SliceDataset
from atommic_rec.transforms import item_draws

__all__ = ["JointSliceDataset"]


class JointSliceDataset(Dataset):
    """One example per slice: the REC sample plus ``segmentation`` and ``spacing``.

    Labels are checked for every file at construction (layout, grid, slice count, finite
    integral values within ``num_classes``; see :func:`~atommic_mtl.data.labels.inspect_labels`).
    With ``skip_bad_files`` a file with bad labels is skipped with a warning (its examples
    are left out), like files REC's dataset rejects.

    Args:
        slices: The REC dataset over the same files, built with the joint chain as its
            transform (see :func:`~atommic_mtl.data.build_mtl_dataset`). Its transform moves
            here: labels join the sample before the chain runs.
        label_mode: ``"multiclass"`` or ``"multilabel"``.
        num_classes: Classes of the model.
        require_labels: A file without labels is an error (False for prediction).
        skip_bad_files: Skip files with bad labels instead of raising.
        segmentation_key: The label dataset's name.
    """

    def __init__(self, slices: SliceDataset, *, label_mode: str = "multiclass",
                 num_classes: int = 2, require_labels: bool = True,
                 skip_bad_files: bool = False, segmentation_key: str = "segmentation") -> None:
        self.slices = slices
        self.transform: Callable[[dict[str, Any]], Any] | None = slices.transform
        slices.transform = None  # the chain runs here, on the sample with its labels
        self.label_mode, self.num_classes = label_mode, int(num_classes)
        self.reader = LabelReader(segmentation_key)
        self.labels: dict[int, LabelInfo] = {}
        for vol, info in enumerate(slices.volumes):
            try:
                self.labels[vol] = inspect_labels(info.path, label_mode=label_mode,
                                                  num_classes=self.num_classes,
                                                  required=require_labels, key=segmentation_key)
            except DataFileError as exc:
                if not skip_bad_files:
                    raise
                warnings.warn(f"skipping bad file: {exc}", DataSkipWarning, stacklevel=2)
        self.index = [i for i, (vol, _) in enumerate(slices.examples) if vol in self.labels]
        if not self.index:
            raise DataFileError(f"JointSliceDataset: expected at least one file with valid "
                                f"labels; found {len(slices.volumes)} file(s), none usable")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def epoch(self) -> int:
        """The epoch of the training draws (REC's: masks and augmentations per item)."""
        return self.slices.epoch

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the training draws, in this process and its DataLoader workers."""
        self.slices.set_epoch(epoch)

    @property
    def example_groups(self) -> list[int]:
        """The volume of each example: under DDP each volume is evaluated whole on one rank."""
        return [self.slices.examples[i][0] for i in self.index]

    def __getitem__(self, index: int) -> Any:
        """The joint sample of example ``index`` (see :class:`~atommic_mtl.data.JointFinalize`)."""
        rec_index = self.index[index]
        vol, slice_idx = self.slices.examples[rec_index]
        sample = self.slices[rec_index]
        info = self.labels[vol]
        sample["spacing"] = info.spacing
        if info.layout is not None:
            try:
                sample["segmentation"] = self.reader.read(info, slice_idx, self.label_mode,
                                                          self.num_classes)
            except (OSError, KeyError, ValueError, RuntimeError) as exc:
                raise DataFileError(f"{info.path}: failed to read segmentation slice "
                                    f"{slice_idx}: {exc}") from exc
        if self.transform is None:
            return sample
        try:  # draws (masks, joint augmentations) from (seed, epoch, index): exact resume
            with item_draws(self.slices.seed, self.slices.epoch, index):
                return self.transform(sample)
        except ValueError as exc:
            if type(exc) is not ValueError:
                raise
            raise ValueError(f"{info.path.name} slice {slice_idx}: {exc}") from exc

    def close(self) -> None:
        """Close this process's open files."""
        self.slices.close()
        self.reader.close()
