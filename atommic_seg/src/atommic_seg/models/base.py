"""``SegmentationModel``: the ``ModelPT`` every segmentation model derives from.

A subclass only builds its network (:meth:`SegmentationModel.build_network`); this base
provides data sets, padding to the network's size divisor, losses (with deep supervision),
validation Dice, per-case test metrics (CSV + printed summary) and prediction writing.

Model config keys (besides the network's own)::

    dimensionality: 2            # 2 = slices, 3 = volumes (fixed by UNet / UNet3D)
    num_classes: 4               # background included for multiclass
    label_mode: multiclass       # or multilabel (one sigmoid channel per class)
    complex_data: false          # complex images as 2 channels (real, imaginary)
    context_slices: 0            # 2D: k neighbouring slices each side as channels (2.5D)
    normalization: max           # per volume: max, zscore or none
    inference: {patch_size: [32, 64, 64], overlap: 0.5,   # optional sliding window
                flip_tta: false}  # test/predict: average probabilities over in-plane flips
    class_names: [background, csf, gm, wm]
    loss: {dice: {weight: 1.0, include_background: false}, cross_entropy: 1.0}
    train_ds / validation_ds / test_ds / predict_ds:
      data_path: ...             # plus SegmentationDataset arguments and loader keys
      skip_bad_files: false      # true: skip unreadable/inconsistent/non-finite cases
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from atommic_core import ModelPT
from atommic_core.distributed import all_gather_objects
from atommic_core.errors import ConfigError
from atommic_seg.data.dataset import SegmentationDataset
from atommic_seg.losses import build_loss
from atommic_seg.metrics import segmentation_metrics, summarize
from atommic_seg.models.inference import flip_axes, flip_tta, sliding_window
from atommic_seg.models.writers import (
    format_summary,
    write_label_volume,
    write_metrics_csv,
    write_overlay_png,
)

__all__ = ["SegmentationModel"]

_DATASET_KEYS = ("dimensionality", "num_classes", "label_mode", "complex_data", "normalization")


class SegmentationModel(ModelPT):
    """Base of the segmentation models (see the module docstring for the config).

    Args:
        cfg: The ``model`` config section.
        trainer: The Lightning trainer, if any.

    Attributes:
        net: The network, ``[B, C_in, *S] -> [B, num_classes, *S]`` logits (float32).
    """

    #: Fixed dimensionality of the model (None: from ``cfg.dimensionality``, default 2).
    fixed_dimensionality: int | None = None
    #: Dimensionality when ``cfg.dimensionality`` is not set.
    default_dimensionality: int = 2

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        c = self.cfg
        dims = int(c.get("dimensionality",
                         self.fixed_dimensionality or self.default_dimensionality))
        if self.fixed_dimensionality is not None and dims != self.fixed_dimensionality:
            raise ConfigError(f"{type(self).__name__} is {self.fixed_dimensionality}D; found "
                              f"model.dimensionality={dims}; hint: remove the key")
        if dims not in (2, 3):
            raise ConfigError(f"model.dimensionality must be 2 or 3, found {dims}")
        self.dimensionality = dims
        self.num_classes = int(c.get("num_classes", 2))
        self.label_mode = str(c.get("label_mode", "multiclass"))
        if self.label_mode not in ("multiclass", "multilabel"):
            raise ConfigError(f"model.label_mode must be multiclass or multilabel, found "
                              f"{self.label_mode!r}")
        self.context_slices = int(c.get("context_slices", 0) or 0)
        if self.context_slices < 0 or (self.context_slices and dims != 2):
            raise ConfigError(f"model.context_slices needs a 2D model and k >= 0; found "
                              f"{self.context_slices} with dimensionality {dims}")
        #: channels per slice: 1 (magnitude) or 2 (real, imaginary)
        self.slice_channels = 2 if c.get("complex_data", False) else 1
        self.in_channels = self.slice_channels * (2 * self.context_slices + 1)
        flip_axes((c.get("inference") or {}).get("flip_tta"), dims)  # fail early on bad axes
        names = c.get("class_names")
        self.class_names = (list(names) if names is not None
                            else [f"class_{i}" for i in range(self.num_classes)])
        if len(self.class_names) != self.num_classes:
            raise ConfigError(f"model.class_names has {len(self.class_names)} names for "
                              f"num_classes={self.num_classes}")
        loss_cfg = c.get("loss")
        self.loss_fn = build_loss(OmegaConf.to_container(loss_cfg) if loss_cfg is not None
                                  else None, self.label_mode)
        self.net = self.build_network(c, dims, self.in_channels, self.num_classes)
        self.size_divisor = tuple(getattr(self.net, "size_divisor", (1,) * dims))
        self._val_counts: torch.Tensor | None = None
        self._test_parts: dict[str, dict[str, Any]] = {}
        self._test_rows: list[dict[str, Any]] = []
        self._predict_parts: dict[str, dict[str, Any]] = {}

    # -- network -------------------------------------------------------------------------
    def build_network(self, cfg: DictConfig, dims: int, in_channels: int,
                      out_channels: int) -> nn.Module:
        """Build the network (subclasses implement).

        Args:
            cfg: The model config.
            dims: 2 or 3.
            in_channels: Input channels (1 magnitude, 2 complex).
            out_channels: Number of classes.

        Returns:
            An ``nn.Module`` mapping ``[B, in_channels, *S]`` to ``[B, out_channels, *S]``,
            optionally with a ``size_divisor`` tuple the input sizes must divide.
        """
        raise NotImplementedError

    def forward(self, image: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """Logits for ``image`` ``[B, C_in, *S]`` (padded to the size divisor and cropped).

        Returns:
            ``[B, num_classes, *S]``, or a list of such (deep supervision in training; coarse
            outputs are upsampled to the input size).
        """
        spatial = image.shape[2:]
        if len(spatial) != self.dimensionality:
            raise ValueError(f"expected image [B, C, {'S, ' if self.dimensionality == 3 else ''}"
                             f"H, W], found shape {tuple(image.shape)}")
        pads = [(-n) % d for n, d in zip(spatial, self.size_divisor, strict=True)]
        if any(pads):
            flat = [p for pad in reversed(pads) for p in (0, pad)]
            image = F.pad(image, flat)
        out = self.net(image)
        crop = (slice(None), slice(None), *[slice(0, n) for n in spatial])
        if isinstance(out, (list, tuple)):  # deep supervision: coarse outputs to full size
            mode = "bilinear" if self.dimensionality == 2 else "trilinear"
            size = image.shape[2:]
            return [o[crop] if o.shape[2:] == size else F.interpolate(
                o, size=size, mode=mode, align_corners=False)[crop] for o in out]
        return out[crop]

    def infer(self, image: torch.Tensor, tta: bool = True) -> torch.Tensor:
        """Evaluation logits, with the options of ``model.inference``.

        ``patch_size`` (one size per spatial axis): sliding windows overlapping by ``overlap``
        (default 0.5), logits averaged. ``flip_tta`` (``true`` = both in-plane axes, or a
        list of axes such as ``[-1]``): probabilities averaged over flipped copies of the
        input (see :func:`atommic_seg.models.inference.flip_tta`).

        Args:
            image: ``[B, C_in, *S]`` float32.
            tta: Apply ``flip_tta`` if configured (test and predict do; validation does not,
                so model selection stays cheap, as in nnU-Net).

        Returns:
            Logits ``[B, num_classes, *S]``.
        """
        opts = self.cfg.get("inference") or {}
        patch = opts.get("patch_size")

        def whole(x: torch.Tensor) -> torch.Tensor:
            if not patch:
                return self(x)
            return sliding_window(self, x, self.num_classes, list(patch),
                                  float(opts.get("overlap", 0.5)))

        axes = flip_axes(opts.get("flip_tta"), self.dimensionality) if tta else []
        if not axes:
            return whole(image)
        return flip_tta(whole, image, axes, self.label_mode == "multilabel")

    # -- data ----------------------------------------------------------------------------
    def build_dataset(self, cfg: DictConfig, split: str) -> Dataset:
        """A :class:`SegmentationDataset` from a split config.

        Augmentations and ``crop_size`` apply to the train split only.
        """
        if cfg.get("data_path") is None:
            raise ConfigError(f"model.{split}_ds.data_path is not set")
        kwargs = {k: cfg.get(k, self.cfg.get(k)) for k in _DATASET_KEYS}
        kwargs["dimensionality"] = self.dimensionality
        kwargs["context_slices"] = self.context_slices  # the network's input channels
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        aug = cfg.get("augmentations") if split == "train" else None
        return SegmentationDataset(
            cfg.data_path, **kwargs, data_format=cfg.get("data_format", "auto"),
            augmentations=OmegaConf.to_container(aug) if aug is not None else None,
            seed=int(cfg.get("seed", 0) or 0), cache_size=int(cfg.get("cache_size", 8)),
            require_labels=split != "predict", image_key=cfg.get("image_key"),
            label_key=cfg.get("label_key", "segmentation"),
            crop_size=cfg.get("crop_size") if split == "train" else None,
            skip_bad_files=bool(cfg.get("skip_bad_files", False)))

    # -- losses and labels ---------------------------------------------------------------
    def compute_loss(self, logits: torch.Tensor | list[torch.Tensor],
                     target: torch.Tensor) -> torch.Tensor:
        """Loss of logits, or of a deep-supervision list (weights 1, 1/2, 1/4, ... normalized).

        Args:
            logits: ``[B, C, *S]`` or a list of such (full resolution first).
            target: Class indices ``[B, *S]`` or channels ``[B, C, *S]``.

        Returns:
            A scalar tensor.
        """
        if not isinstance(logits, (list, tuple)):
            return self.loss_fn(logits, target)
        weights = [0.5**i for i in range(len(logits))]
        total = sum(w * self.loss_fn(out, target) for w, out in zip(weights, logits,
                                                                      strict=True))
        return total / sum(weights)

    def to_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C, *S]`` -> labels ``[B, *S]`` (argmax) or ``[B, C, *S]`` (> 0), uint8."""
        if self.label_mode == "multilabel":
            return (logits > 0).to(torch.uint8)
        return logits.argmax(dim=1).to(torch.uint8)

    # -- steps ---------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Loss on one batch, logged as ``train_loss`` (and each part as ``train_<name>``)."""
        loss = self.compute_loss(self(batch["image"]), batch["target"])
        bs = batch["image"].shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=bs)
        for name, part in self.loss_fn.last_parts.items():
            self.log(f"train_{name}", part, batch_size=bs)
        return loss

    def _counts(self, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[num_classes, 3]`` true positives, false positives, false negatives."""
        if self.label_mode == "multilabel":
            p, t = labels.bool(), target.bool()
            dims = [0, *range(2, p.dim())]
        else:
            classes = torch.arange(self.num_classes, device=labels.device)
            shape = (1, -1, *([1] * (labels.dim() - 1)))
            p = labels.long().unsqueeze(1) == classes.view(shape)
            t = target.long().unsqueeze(1) == classes.view(shape)
            dims = [0, *range(2, p.dim())]
        return torch.stack([(p & t).sum(dims), (p & ~t).sum(dims), (~p & t).sum(dims)], 1)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Logs ``val_loss``; accumulates counts for the epoch's ``val_dice``."""
        logits = self.infer(batch["image"], tta=False)
        loss = self.compute_loss(logits, batch["target"])
        self.log("val_loss", loss, prog_bar=True, batch_size=batch["image"].shape[0],
                 sync_dist=True)
        counts = self._counts(self.to_labels(logits), batch["target"]).double().cpu()
        self._val_counts = counts if self._val_counts is None else self._val_counts + counts

    def on_validation_epoch_end(self) -> None:
        """Logs ``val_dice``: mean foreground Dice over the epoch (absent classes skipped).

        The counts are summed over DDP ranks first, so the value is that of the whole
        validation set, the same on every rank.
        """
        parts = [c for c in all_gather_objects(self._val_counts) if c is not None]
        self._val_counts = None
        if not parts:
            return
        tp, fp, fn = torch.stack(parts).sum(0).unbind(1)
        first = 0 if self.label_mode == "multilabel" else 1
        den = (2 * tp + fp + fn)[first:]
        dice = (2 * tp[first:] / den)[den > 0]
        self.log("val_dice", float(dice.mean()) if len(dice) else math.nan, prog_bar=True,
                 sync_dist=True)  # equal on every rank; syncing only silences Lightning

    def _case_parts(self, batch: dict[str, Any], labels: torch.Tensor):
        """Yield ``(case, slice, labels, target, item)`` per item (CPU numpy arrays)."""
        for i, case in enumerate(batch["case"]):
            target = batch["target"][i].cpu().numpy() if "target" in batch else None
            yield case, int(batch["slice"][i]), labels[i].cpu().numpy(), target, i

    def _collect(self, store: dict[str, dict[str, Any]], batch: dict[str, Any],
                 labels: torch.Tensor, keep_image: bool):
        """Gather slices per case; yield ``(case, entry)`` once a case is complete."""
        for case, slc, lab, tgt, i in self._case_parts(batch, labels):
            n = int(batch["num_slices"][i]) if slc >= 0 else 1
            entry = store.setdefault(case, {
                "labels": {}, "targets": {}, "spacing": batch["spacing"][i].cpu().numpy(),
                "affine": batch["affine"][i].cpu().numpy(), "format": batch["format"][i],
                "n": n, "image": None})
            entry["labels"][slc] = lab
            if tgt is not None:
                entry["targets"][slc] = tgt
            middle = n // 2 if slc >= 0 else -1
            if keep_image and slc == middle:
                # the slice itself, not its context_slices neighbours
                k, c = self.context_slices, self.slice_channels
                img = batch["image"][i, k * c:(k + 1) * c].float()
                mag = img.square().sum(0).sqrt() if img.shape[0] > 1 else img[0]
                entry["image"] = mag.cpu().numpy() if slc >= 0 else mag[mag.shape[0] // 2
                                                                        ].cpu().numpy()
            if len(entry["labels"]) == n:
                yield case, store.pop(case)

    def _volume(self, parts: dict[int, np.ndarray]) -> np.ndarray:
        """Slices (2D) or the volume (3D) -> slices-first ``[S, H, W]`` / ``[S, C, H, W]``."""
        if -1 in parts:  # a 3D item: [S, H, W] or [C, S, H, W]
            vol = parts[-1]
            return np.moveaxis(vol, 0, 1) if self.label_mode == "multilabel" else vol
        return np.stack([parts[k] for k in sorted(parts)])

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Predict labels; compute per-class metrics for every completed case."""
        labels = self.to_labels(self.infer(batch["image"]))
        multilabel = self.label_mode == "multilabel"
        for case, entry in self._collect(self._test_parts, batch, labels, keep_image=False):
            pred, target = self._volume(entry["labels"]), self._volume(entry["targets"])
            if multilabel:  # metrics want channels first
                pred, target = np.moveaxis(pred, 1, 0), np.moveaxis(target, 1, 0)
            per_class = segmentation_metrics(pred, target, self.num_classes, entry["spacing"],
                                             multilabel)
            for c, values in per_class.items():
                self._test_rows.append({"case": case, "class": self.class_names[c], **values})

    def on_test_epoch_end(self) -> None:
        """Write ``test_metrics_per_case.csv``, print the summary, log ``test_<metric>``.

        Under DDP every rank holds whole cases (see ``example_groups``): the rows of all
        ranks are gathered, global rank 0 prints and writes the files, and every rank logs
        the same means.
        """
        gathered = all_gather_objects(self._test_rows)
        self._test_rows, self._test_parts = [], {}
        # case order as in one process (the dataset lists cases sorted by name)
        rows = sorted((r for part in gathered for r in part), key=lambda r: r["case"])
        if not rows:
            return
        summary = summarize(rows)
        for metric, value in summary["mean"].items():
            self.log(f"test_{metric}", value, sync_dist=True)  # equal on every rank
        if self._trainer is not None and not self.trainer.is_global_zero:
            return
        folder = self.output_dir or (self.trainer.log_dir if self._trainer is not None
                                     else None)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            write_metrics_csv(rows, os.path.join(folder, "test_metrics_per_case.csv"))
            write_metrics_csv([{"case": "all", "class": k, **v} for k, v in summary.items()],
                              os.path.join(folder, "test_metrics_summary.csv"))
        print(f"\nSegmentation test metrics ({len({r['case'] for r in rows})} cases, "
              "mean over cases; classes absent from both prediction and target skipped):")
        print(format_summary(summary))

    def on_predict_start(self) -> None:  # noqa: D102 - Lightning hook
        self._predict_parts = {}

    def on_test_start(self) -> None:  # noqa: D102 - Lightning hook
        self._test_parts, self._test_rows = {}, []

    def predict_step(self, batch: dict[str, Any], batch_idx: int,
                     dataloader_idx: int = 0) -> list[tuple[str, dict[str, Any]]]:
        """Label maps of the cases completed by this batch: ``[(case, entry), ...]``."""
        labels = self.to_labels(self.infer(batch["image"]))
        done = list(self._collect(self._predict_parts, batch, labels, keep_image=True))
        return [(case, {**entry, "labels": self._volume(entry["labels"])})
                for case, entry in done]

    def write_predictions(self, outputs: list[Any], output_dir: str) -> list[str]:
        """Write each case's label map (NIfTI with the input affine, or HDF5) and a PNG overlay.

        The format follows the input unless ``predict_ds.output_format`` is ``nifti`` or
        ``hdf5``; overlays (middle slice) are off with ``predict_ds.overlays: false``.
        """
        cfg = self.cfg.get("predict_ds") or {}
        forced = cfg.get("output_format", "auto")
        overlays = bool(cfg.get("overlays", True))
        written: list[str] = []
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        for batch_out in outputs:
            for case, entry in batch_out:
                fmt = entry["format"] if forced == "auto" else forced
                base = os.path.join(output_dir, case)
                written.append(write_label_volume(entry["labels"], base, fmt, entry["affine"],
                                                  entry["spacing"]))
                if overlays and entry["image"] is not None:
                    lab = entry["labels"][entry["labels"].shape[0] // 2]
                    written.append(write_overlay_png(entry["image"], lab,
                                                     f"{base}_overlay.png"))
        return written
