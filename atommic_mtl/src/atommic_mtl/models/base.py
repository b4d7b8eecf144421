"""``MultiTaskModel``: the shared training, evaluation and output logic of the MTL models.

A subclass builds its networks in :meth:`MultiTaskModel.build_networks` and returns all its
estimates in :meth:`MultiTaskModel.run`; losses of both tasks, per-volume metrics of both
tasks (exact under DDP), the test tables and the prediction files are here, once.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from atommic_core import ModelPT
from atommic_core.distributed import all_gather_objects, gather_groups
from atommic_core.errors import ConfigError
from atommic_core.model.evaluation import EvalStepsMixin
from atommic_mtl.losses import MultiTaskLoss
from atommic_mtl.metrics import JointVolumeMetrics
from atommic_mtl.models.outputs import (
    joint_panel,
    write_joint_h5,
    write_label_nifti,
    write_rgb_png,
)
from atommic_rec.metrics import METRIC_NAMES as REC_METRICS
from atommic_rec.metrics import get_convention
from atommic_rec.models._outputs import format_table, write_metrics_csv
from atommic_seg.metrics import summarize
from atommic_seg.models.writers import format_summary
from atommic_seg.models.writers import write_metrics_csv as write_segmentation_csv

__all__ = ["JointEstimates", "MultiTaskModel"]

LOG = logging.getLogger("atommic_core.mtl")
_COMPLEX_KEYS = ("masked_kspace", "sensitivity_maps", "initial_image")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def _as_list(values: Any) -> list:
    return values.tolist() if isinstance(values, torch.Tensor) else list(values)


@dataclass
class JointEstimates:
    """What a model's :meth:`~MultiTaskModel.run` returns; the final estimate of each is last.

    Attributes:
        reconstructions: Complex images ``[B, H, W]`` (or real magnitudes), in order.
        segmentations: Logits ``[B, num_classes, H, W]``, in order.
    """

    reconstructions: list[torch.Tensor]
    segmentations: list[torch.Tensor]


class MultiTaskModel(EvalStepsMixin, ModelPT):
    """Base class of the joint reconstruction + segmentation models.

    Batches are REC's (``masked_kspace``, ``sensitivity_maps``, ``mask``, ``initial_image``,
    ``target``, ``scale``, ``fname``, ``slice_idx``; see :class:`~atommic_rec.models.base.
    ReconstructionModel`) plus ``segmentation`` (int64 ``[B, H, W]`` or float ``[B, K, H, W]``)
    and ``spacing`` (``[B, 3]`` mm), from :func:`atommic_mtl.data.build_mtl_dataset`.

    Config keys (``model`` section) shared by all models: REC's ``fft_centered``,
    ``fft_normalization``, ``spatial_dims``, ``coil_combination_method``,
    ``reconstruction_loss``, ``intermediate_loss_weighting`` and ``evaluation_convention``;
    SEG's ``num_classes`` (background included for multiclass), ``label_mode``
    (``multiclass`` or ``multilabel``), ``class_names`` and ``segmentation_loss`` (SEG's
    ``loss`` spec); the task weights ``total_reconstruction_loss_weight`` and
    ``total_segmentation_loss_weight`` (1.0 each) and
    ``segmentation_intermediate_loss_weighting`` (``last``), see :mod:`atommic_mtl.losses`;
    outputs ``log_images`` (2), ``write_png`` (True) and ``write_nifti`` (True).

    Args:
        cfg: The ``model`` section of the config.
        trainer: The Lightning trainer, if any.
    """

    evaluation_keys = ("evaluation_convention", "write_png", "write_nifti")

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        c = self.cfg
        self.fft_kw = {"centered": bool(c.get("fft_centered", True)),
                       "normalization": str(c.get("fft_normalization", "ortho")),
                       "spatial_dims": tuple(c.get("spatial_dims", (-2, -1)))}
        self.num_classes = int(c.get("num_classes", 2))
        self.label_mode = str(c.get("label_mode", "multiclass"))
        if self.label_mode not in ("multiclass", "multilabel") or self.num_classes < 1:
            raise ConfigError(f"model.label_mode/num_classes: expected multiclass or multilabel "
                              f"and num_classes >= 1; found {self.label_mode!r}, "
                              f"{self.num_classes}")
        names = c.get("class_names")
        self.class_names = list(names) if names is not None else \
            [f"class_{i}" for i in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise ConfigError(f"model.class_names: expected {self.num_classes} names "
                              f"(num_classes); found {len(self.class_names)}")
        try:
            self.convention = get_convention(c.get("evaluation_convention"))
            self.loss_fn = MultiTaskLoss(
                _plain(c.get("reconstruction_loss")), _plain(c.get("segmentation_loss")),
                self.label_mode, float(c.get("total_reconstruction_loss_weight", 1.0)),
                float(c.get("total_segmentation_loss_weight", 1.0)),
                str(c.get("intermediate_loss_weighting", "logspace")),
                str(c.get("segmentation_intermediate_loss_weighting", "last")))
        except ValueError as exc:
            raise ConfigError(f"model: {exc}") from None
        self.num_log_images = int(c.get("log_images", 2))
        self._metrics = {"val": JointVolumeMetrics(), "test": JointVolumeMetrics()}
        self._panels: list[tuple[str, np.ndarray]] = []
        self.test_results: dict[str, Any] = {}
        self.build_networks()

    # -- to implement ----------------------------------------------------------------------
    def build_networks(self) -> None:
        """Create the network modules from ``self.cfg`` (subclasses implement)."""

    def run(self, batch: dict[str, Any]) -> JointEstimates:
        """All reconstructions and segmentations of a prepared batch (subclasses implement).

        Args:
            batch: A batch after :meth:`prepare` (complex inputs complex64).

        Returns:
            The :class:`JointEstimates`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    # -- data ------------------------------------------------------------------------------
    def build_dataset(self, cfg: DictConfig, split: str) -> Any:
        """The joint dataset of :func:`atommic_mtl.data.build_mtl_dataset`."""
        from atommic_mtl.data import build_mtl_dataset

        return build_mtl_dataset(cfg, split, model_cfg=self.cfg)

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor, initial_image: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruct and segment a batch.

        Args:
            masked_kspace: complex64 ``[B, C, H, W]``.
            sensitivity_maps: complex64 ``[B, C, H, W]``.
            mask: float, broadcastable to ``[B, C, H, W]``.
            initial_image: complex64 ``[B, H, W]``.

        Returns:
            The final reconstruction ``[B, H, W]`` (complex) and segmentation logits
            ``[B, num_classes, H, W]``.
        """
        out = self.run(self.prepare({"masked_kspace": masked_kspace, "mask": mask,
                                     "sensitivity_maps": sensitivity_maps,
                                     "initial_image": initial_image}))
        return out.reconstructions[-1], out.segmentations[-1]

    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Cast complex inputs to the model's complex dtype (Lightning casts only floats)."""
        real = torch.float64 if self.dtype == torch.float64 else torch.float32
        cplx = torch.complex128 if real == torch.float64 else torch.complex64
        out = dict(batch)
        for key in _COMPLEX_KEYS:
            if key in out:
                out[key] = out[key].to(cplx)
        out["mask"] = out["mask"].to(real)
        return out

    def to_labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K, H, W]`` -> uint8 labels ``[B, H, W]`` (argmax) or ``[B, K, H, W]``."""
        if self.label_mode == "multilabel":
            return (logits > 0).to(torch.uint8)
        return logits.argmax(dim=1).to(torch.uint8)

    # -- steps -----------------------------------------------------------------------------
    def _losses(self, batch: dict[str, Any], out: JointEstimates, final_only: bool
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        recs = [r.abs().float() for r in out.reconstructions]
        segs = out.segmentations
        if final_only:
            recs, segs = recs[-1:], segs[-1:]
        return self.loss_fn(recs, batch["target"].float(), segs, batch["segmentation"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Joint loss over all estimates; logs ``train_loss`` and each task's loss."""
        batch = self.prepare(batch)
        loss, parts = self._losses(batch, self.run(batch), final_only=False)
        size = batch["target"].shape[0]
        self.log("train_loss", loss, prog_bar=True, batch_size=size)
        for name, value in parts.items():
            self.log(f"train_{name}", value, batch_size=size)
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        batch = self.prepare(batch)
        out = self.run(batch)
        loss, parts = self._losses(batch, out, final_only=True)
        size = batch["target"].shape[0]
        self.log(f"{stage}_loss", loss, sync_dist=True, batch_size=size)
        for name, value in parts.items():
            self.log(f"{stage}_{name}", value, sync_dist=True, batch_size=size)
        recon = out.reconstructions[-1].abs().float()
        labels = self.to_labels(out.segmentations[-1])
        self._metrics[stage].update(batch["fname"], _as_list(batch["slice_idx"]),
                                    batch["target"].float(), recon, batch.get("scale"), labels,
                                    batch["segmentation"], batch["spacing"])
        if stage == "val" and len(self._panels) < self.num_log_images:
            tag = f"{batch['fname'][0]}/{_as_list(batch['slice_idx'])[0]}"
            self._panels.append((tag, joint_panel(batch["target"][0].float().cpu().numpy(),
                                                  recon[0].cpu().numpy(),
                                                  labels[0].cpu().numpy())))
        return loss

    # -- metrics ---------------------------------------------------------------------------
    def _gather(self, stage: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Reconstruction and segmentation rows of every rank (collective: all ranks call it).

        The datasets' ``example_groups`` give each volume whole to one rank, so every rank
        scores complete volumes and the gathered rows are exact and the same everywhere.
        """
        acc = self._metrics[stage]
        local = (acc.reconstruction_rows(self.convention),
                 acc.segmentation_rows(self.num_classes, self.class_names,
                                       self.label_mode == "multilabel"))
        rec = gather_groups(local[0], f"{stage} reconstruction metrics")
        seg = [row for part in all_gather_objects(local[1]) for row in part]
        rec_rows = [{"fname": n, **m} for n, m in sorted(rec.items())]
        if rec_rows:
            rec_rows.append({"fname": "MEAN", "slices": sum(r["slices"] for r in rec_rows),
                             **self.convention.mean(rec_rows)})
        return rec_rows, sorted(seg, key=lambda r: r["case"])

    def _log_metrics(self, stage: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                dict[str, dict[str, float]]]:
        rec_rows, seg_rows = self._gather(stage)
        summary = summarize(seg_rows) if seg_rows else {}
        if rec_rows:
            for name in REC_METRICS:
                self.log(f"{stage}_{name}", rec_rows[-1][name], sync_dist=True)
        if summary:
            names = ("dice",) if stage == "val" else tuple(summary["mean"])
            for name in names:  # NaN when every class is absent from every volume
                self.log(f"{stage}_{name}", summary["mean"][name],
                         sync_dist=True)  # equal on every rank; syncing only silences Lightning
        return rec_rows, seg_rows, summary

    def on_validation_epoch_end(self) -> None:
        """Log ``val_ssim``/``val_psnr``/``val_nmse``/``val_dice`` (per volume) and panels."""
        self._log_metrics("val")
        self._metrics["val"].reset()
        self._flush_val_panels(dataformats="HWC")

    def on_test_epoch_end(self) -> None:
        """Log ``test_*``; print and write both per-volume tables (and PNG panels)."""
        rec_rows, seg_rows, summary = self._log_metrics("test")
        self.test_results = {"reconstruction": rec_rows, "segmentation": seg_rows,
                             "segmentation_summary": summary}
        if rec_rows and self._is_global_zero():
            print(f"\n{type(self).__name__} reconstruction test metrics "
                  f"({self.convention.header()}):\n{format_table(rec_rows)}")
            print(f"\n{type(self).__name__} segmentation test metrics "
                  f"({len({r['case'] for r in seg_rows})} volumes, whole-volume Dice/IoU/HD95/ASD "
                  "in mm, mean over volumes; classes absent from both skipped):\n"
                  f"{format_summary(summary)}")
        if rec_rows and self.output_dir and self._is_global_zero():
            os.makedirs(self.output_dir, exist_ok=True)
            write_metrics_csv(os.path.join(self.output_dir, "metrics.csv"),
                              [{**r, "convention": self.convention.name} for r in rec_rows])
            write_segmentation_csv(seg_rows, os.path.join(self.output_dir,
                                                          "segmentation_metrics_per_case.csv"))
            write_segmentation_csv([{"case": "all", "class": k, **v} for k, v in summary.items()],
                                   os.path.join(self.output_dir,
                                                "segmentation_metrics_summary.csv"))
            LOG.info("test: %d volume(s); MEAN SSIM %.4f, PSNR %.2f dB; mean Dice %.4f",
                     len(rec_rows) - 1, rec_rows[-1]["ssim"], rec_rows[-1]["psnr"],
                     summary["mean"]["dice"])
        if rec_rows and self.output_dir and self.cfg.get("write_png", True):
            self._write_test_panels(os.path.join(self.output_dir, "previews"))
        self._metrics["test"].reset()

    def _write_test_panels(self, folder: str) -> None:
        """Middle-slice panels of this rank's volumes (each rank holds whole volumes)."""
        os.makedirs(folder, exist_ok=True)
        acc = self._metrics["test"]
        labels = acc.label_volumes()
        for name, (target, recon) in acc.reconstruction.volumes().items():
            mid = target.shape[0] // 2
            stem = os.path.splitext(os.path.basename(name))[0]
            write_rgb_png(joint_panel(target[mid].numpy(), recon[mid].numpy(),
                                      labels[name][0][mid]), os.path.join(folder, f"{stem}.png"))

    # -- prediction ------------------------------------------------------------------------
    def predict_step(self, batch: dict[str, Any], batch_idx: int,
                     dataloader_idx: int = 0) -> dict[str, Any]:
        """Magnitudes in file units (times ``scale``), predicted labels and the target."""
        batch = self.prepare(batch)
        out = self.run(batch)
        scale = torch.as_tensor(batch.get("scale", 1.0), dtype=torch.float32,
                                device=batch["target"].device).reshape(-1, 1, 1)
        return {"fname": list(batch["fname"]), "slice_idx": _as_list(batch["slice_idx"]),
                "reconstruction": (out.reconstructions[-1].abs().float() * scale).cpu(),
                "target": (batch["target"].float() * scale).cpu(),
                "segmentation": self.to_labels(out.segmentations[-1]).cpu(),
                "spacing": batch["spacing"].cpu()}

    def write_predictions(self, outputs: list[Any], output_dir: str) -> list[str]:
        """Per volume an HDF5, a NIfTI label map and a PNG panel.

        ``<name>.h5`` holds ``reconstruction`` (float32 ``[S, H, W]``, file units) and
        ``segmentation`` (uint8); ``<name>.nii.gz`` the label map (``write_nifti``);
        ``previews/<name>.png`` target | reconstruction | error | overlay of the middle slice
        (``write_png``).

        Args:
            outputs: What :meth:`predict_step` returned, one dict per batch.
            output_dir: Existing folder to write into.

        Returns:
            The paths written.
        """
        volumes: dict[str, dict[int, tuple]] = defaultdict(dict)
        for out in outputs:
            for i, (name, idx) in enumerate(zip(out["fname"], out["slice_idx"], strict=True)):
                volumes[name][int(idx)] = (out["reconstruction"][i], out["target"][i],
                                           out["segmentation"][i], out["spacing"][i])
        paths = []
        for name, slices in sorted(volumes.items()):
            stem = os.path.splitext(os.path.basename(name))[0]
            order = sorted(slices)
            recon, target, labels = (torch.stack([slices[i][k] for i in order]).numpy()
                                     for k in range(3))
            spacing = slices[order[0]][3].tolist()
            attrs = {"model": type(self).__name__, "source": str(name), "spacing": spacing,
                     "class_names": list(self.class_names), "label_mode": self.label_mode}
            paths.append(write_joint_h5(os.path.join(output_dir, f"{stem}.h5"), recon, labels,
                                        attrs))
            if self.cfg.get("write_nifti", True):
                paths.append(write_label_nifti(labels, os.path.join(output_dir, stem), spacing))
            if self.cfg.get("write_png", True):
                os.makedirs(os.path.join(output_dir, "previews"), exist_ok=True)
                mid = len(order) // 2
                paths.append(write_rgb_png(joint_panel(target[mid], recon[mid], labels[mid]),
                                           os.path.join(output_dir, "previews", f"{stem}.png")))
        return paths
