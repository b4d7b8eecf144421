"""``ReconstructionModel``: the shared training, evaluation and output logic of REC models.

A subclass builds its network in :meth:`ReconstructionModel.build_networks` and returns its
estimates in :meth:`ReconstructionModel.reconstruct`; everything else (loss over intermediate
outputs, validation metrics and image panels, the test metrics table, prediction files) is
here, once.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from atommic_core import ModelPT
from atommic_core.errors import ConfigError
from atommic_core.model.evaluation import EvalStepsMixin
from atommic_rec.losses import (
    build_loss,
    intermediate_weights,
    iterative_loss,
    normalized_l1_l2_loss,
)
from atommic_rec.metrics import METRIC_NAMES, VolumeMetrics, get_convention
from atommic_rec.models._outputs import (
    format_table,
    image_panel,
    write_labelled_png,
    write_metrics_csv,
    write_panel_png,
    write_volume_h5,
)

__all__ = ["ReconstructionModel"]

LOG = logging.getLogger("atommic_core.rec")

_COMPLEX_KEYS = ("masked_kspace", "sensitivity_maps", "initial_image", "ssdu_loss_kspace")


class ReconstructionModel(EvalStepsMixin, ModelPT):
    """Base class of the reconstruction models.

    Batches are dicts from :func:`atommic_rec.data.build_rec_dataset` (collated):
    ``masked_kspace``/``sensitivity_maps`` complex64 [B, C, H, W], ``mask`` float broadcastable
    to them, ``initial_image`` complex64 [B, H, W], ``target`` float32 [B, H, W], ``scale``
    [B], ``fname`` (list of str) and ``slice_idx`` [B].

    Config keys (``model`` section) shared by all models: ``fft_centered`` (True),
    ``fft_normalization`` (``ortho``), ``spatial_dims`` ([-2, -1]), ``reconstruction_loss``
    (``{l1: 1.0}``; e.g. ``{l1: 0.1, ssim: 0.9}``), ``intermediate_loss_weighting``
    (``logspace``, ``uniform`` or ``last``: the loss weights of the intermediate estimates of
    any model whose :meth:`reconstruct` returns several, nested as :meth:`estimate_levels`
    says), ``log_images`` (validation panels per epoch, 2),
    ``write_png`` (PNG previews with test/predict outputs, True), ``compile`` (False:
    ``torch.compile`` every U-Net in place; faster steps after a compile of about a minute)
    and ``evaluation_convention`` (``fastmri`` or ``atommic``, see :mod:`atommic_rec.metrics`:
    how ``val_*``/``test_*`` metrics and the test table score a volume). The last two are
    ``evaluation_keys``: ``test``/``predict`` of a ``.atommic`` take them from the run's config.

    Self-supervised training, for every model: ``ssdu`` (null: supervised; ``true`` or
    ``{rho: 0.4, selection: uniform, acs_block: [4, 4]}``) splits each training item's measured
    k-space into a data-consistency and a loss set (:class:`~atommic_rec.transforms.SSDUSplit`,
    Yaman et al. MRM 2020) and trains on the k-space loss on the loss set only
    (:func:`~atommic_rec.losses.normalized_l1_l2_loss`, over the weighted estimates): no fully
    sampled target is used in training; validation and test still score against targets.
    ``final_data_consistency`` (null: true under ``ssdu``, else false; an evaluation key)
    replaces the measured samples of the evaluated reconstruction by the data (see
    :meth:`final_estimate`).

    Learned coil maps, for every model: ``use_sens_net`` (False: the batch's maps, from the
    file or estimated by the data transforms), ``sens_chans`` (8), ``sens_pools`` (4) and
    ``sens_mask_center`` (True: only the auto-calibration lines) configure a
    :class:`~atommic_rec.nets.SensitivityNet` (E2E VarNet's) that replaces
    ``sensitivity_maps`` in every step, trained end to end with the model.

    Args:
        cfg: The ``model`` section of the config.
        trainer: The Lightning trainer, if any.
    """

    evaluation_keys = ("evaluation_convention", "write_png", "write_dicom",
                       "final_data_consistency")
    #: What the model card names as the task.
    task = "reconstruction"

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        c = self.cfg
        self.fft_kw = {"centered": bool(c.get("fft_centered", True)),
                       "normalization": str(c.get("fft_normalization", "ortho")),
                       "spatial_dims": tuple(c.get("spatial_dims", (-2, -1)))}
        loss_cfg = c.get("reconstruction_loss")
        if isinstance(loss_cfg, DictConfig):
            loss_cfg = OmegaConf.to_container(loss_cfg)
        self.loss_fn = build_loss(loss_cfg)
        self.intermediate_weighting = str(c.get("intermediate_loss_weighting", "logspace"))
        try:
            intermediate_weights(1, self.intermediate_weighting)
        except ValueError as exc:
            raise ConfigError(f"model.{exc}; hint: set model.intermediate_loss_weighting="
                              "logspace (the default), uniform or last") from None
        self.num_log_images = int(c.get("log_images", 2))
        try:
            self.convention = get_convention(c.get("evaluation_convention"))
        except ValueError as exc:
            raise ConfigError(f"model.{exc}; hint: set model.evaluation_convention=fastmri "
                              "(the default) or atommic") from None
        self.ssdu = _ssdu_options(c.get("ssdu"))
        dc = c.get("final_data_consistency")
        self.final_data_consistency = self.ssdu is not None if dc is None else bool(dc)
        self._metrics = {"val": VolumeMetrics(), "test": VolumeMetrics()}
        self._panels: list[tuple[str, torch.Tensor]] = []
        self.build_networks()
        # after the subclass's networks, so a seeded VarNet initialises as before the move
        self.coil_sensitivity_net = _build_sensitivity_net(c, self.fft_kw)
        if c.get("compile", False):
            self.compile_unets()

    def compile_unets(self) -> None:
        """Compile every :class:`~atommic_rec.nets.Unet` submodule in place (same weights/keys).

        Only the real-valued U-Nets are compiled; FFTs and data consistency stay eager.
        """
        from atommic_rec.nets import Unet

        for module in self.modules():
            if isinstance(module, Unet):
                module.compile()

    # -- to implement ----------------------------------------------------------------------
    def build_networks(self) -> None:
        """Create the network modules from ``self.cfg`` (subclasses implement)."""

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """All estimates in order, the final reconstruction last (subclasses implement).

        Args:
            batch: A prepared batch (see the class docstring).

        Returns:
            Complex images [B, H, W] (complex64, or complex128 under ``64-true``).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement reconstruct()")

    def final_estimate(self, batch: dict[str, Any]) -> torch.Tensor:
        """The reconstruction used for evaluation and prediction: the last estimate.

        With ``final_data_consistency`` (the default under ``ssdu``) its measured k-space
        samples are replaced by the data: ``x <- S^H F^-1 ((1 - M) F S x + M y)``. An
        SSDU-trained network is never asked to reproduce the samples it gets as input (its loss
        sees only the held-out ones), so its output there is unconstrained.

        Args:
            batch: A prepared batch.

        Returns:
            Complex image [B, H, W].
        """
        image = self.reconstruct(batch)[-1]
        if not self.final_data_consistency:
            return image
        from atommic_rec.physics import fft2, ifft2, sense_expand, sense_reduce

        maps, mask = batch["sensitivity_maps"], batch["mask"]
        kspace = fft2(sense_expand(image, maps), **self.fft_kw)
        kspace = kspace * (1 - mask) + batch["masked_kspace"] * mask
        return sense_reduce(ifft2(kspace, **self.fft_kw), maps)

    def estimate_levels(self, num_estimates: int) -> tuple[int, ...]:
        """How :meth:`reconstruct`'s estimates nest, outermost first, for the loss weights.

        The default is one level (``(num_estimates,)``); a model whose estimates are every
        time step of every cascade returns ``(cascades, time_steps)``, so that
        ``intermediate_loss_weighting: logspace`` weighs cascades and time steps each on its
        own log scale (see :func:`~atommic_rec.losses.intermediate_weights`).

        Args:
            num_estimates: Length of the list :meth:`reconstruct` returned.

        Returns:
            Level sizes whose product is ``num_estimates``.
        """
        return (num_estimates,)

    # -- data ------------------------------------------------------------------------------
    def build_dataset(self, cfg: DictConfig, split: str) -> Any:
        """The fastMRI-layout dataset of :func:`atommic_rec.data.build_rec_dataset`.

        The split inherits the model's ``fft_*``, ``spatial_dims`` and
        ``coil_combination_method`` (a contradicting split value is a ``ConfigError``).
        """
        from atommic_rec.data import build_rec_dataset

        if split == "train" and self.ssdu is not None:
            cfg = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) \
                else dict(cfg)
            cfg["ssdu"] = self.ssdu or True  # {} (the defaults) would read as off
        return build_rec_dataset(cfg, split, model_cfg=self.cfg)

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor, initial_image: torch.Tensor) -> torch.Tensor:
        """Reconstruct a batch.

        Args:
            masked_kspace: complex64 [B, C, H, W].
            sensitivity_maps: complex64 [B, C, H, W].
            mask: float, broadcastable to [B, C, H, W].
            initial_image: complex64 [B, H, W].

        Returns:
            The final complex reconstruction [B, H, W].
        """
        batch = {"masked_kspace": masked_kspace, "sensitivity_maps": sensitivity_maps,
                 "mask": mask, "initial_image": initial_image}
        return self.final_estimate(self._prepare(batch))

    def onnx_export_spec(self, shape: Any = None) -> Any:
        """What ``python -m atommic_core export`` exports (see ``atommic_rec.models._onnx``)."""
        from atommic_rec.models._onnx import onnx_spec

        return onnx_spec(self, shape)

    def _prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        # Lightning's 64-true plugin casts float inputs only: complex ones are cast here.
        real = torch.float64 if self.dtype == torch.float64 else torch.float32
        cplx = torch.complex128 if real == torch.float64 else torch.complex64
        out = dict(batch)
        for key in _COMPLEX_KEYS:
            if key in out:
                out[key] = out[key].to(cplx)
        out["mask"] = out["mask"].to(real)
        if "ssdu_loss_mask" in out:
            out["ssdu_loss_mask"] = out["ssdu_loss_mask"].to(real)
        if self.coil_sensitivity_net is not None:
            out = self._estimate_sensitivity_maps(out)
        return out

    def _estimate_sensitivity_maps(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Replace the maps by the learned ones (``use_sens_net``) and redo the SENSE x0.

        The initial image is recomputed (SENSE zero-filled with the learned maps) so that
        every input the network sees uses the same maps; an RSS initial image is kept.
        """
        from atommic_rec.physics import ifft2, sense_reduce

        maps = self.coil_sensitivity_net(batch["masked_kspace"], batch["mask"])
        batch["sensitivity_maps"] = maps.to(batch["masked_kspace"].dtype)
        method = str(self.cfg.get("coil_combination_method") or "sense").lower()
        if "initial_image" in batch and method == "sense":
            batch["initial_image"] = sense_reduce(
                ifft2(batch["masked_kspace"], **self.fft_kw), batch["sensitivity_maps"])
        return batch

    # -- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Loss over all estimates (weighted by ``intermediate_loss_weighting``)."""
        batch = self._prepare(batch)
        if self.ssdu is not None:
            return self._ssdu_training_step(batch)
        target = batch["target"].float()
        estimates = [e.abs().float() for e in self.reconstruct(batch)]
        if len(estimates) > 1:
            loss = iterative_loss(self.loss_fn, estimates, target,
                                  weighting=self.intermediate_weighting,
                                  levels=self.estimate_levels(len(estimates)))
        else:
            loss = self.loss_fn(estimates[-1], target)
        self.log("train_loss", loss, prog_bar=True, batch_size=target.shape[0])
        return loss

    def _ssdu_training_step(self, batch: dict[str, Any]) -> torch.Tensor:
        """SSDU: each estimate's k-space on the loss set against the measured samples there.

        No target is used: ``A_Lambda x = M_Lambda F S x`` against ``y_Lambda`` with
        :func:`~atommic_rec.losses.normalized_l1_l2_loss`, weighted over the estimates.
        """
        from atommic_rec.physics import fft2, sense_expand

        if "ssdu_loss_mask" not in batch:
            raise ConfigError("model.ssdu: expected the training batch to hold ssdu_loss_mask; "
                              "found keys " + ", ".join(sorted(batch)) + "; hint: a custom "
                              "train_ds.transforms list needs {name: ssdu_split} after 'target'")
        estimates = self.reconstruct(batch)
        weights = intermediate_weights(self.estimate_levels(len(estimates)),
                                       self.intermediate_weighting).tolist()
        maps, loss_mask = batch["sensitivity_maps"], batch["ssdu_loss_mask"]
        loss = sum(w * normalized_l1_l2_loss(
            loss_mask * fft2(sense_expand(e, maps), **self.fft_kw), batch["ssdu_loss_kspace"])
            for w, e in zip(weights, estimates, strict=True) if w > 0)
        self.log("train_loss", loss, prog_bar=True, batch_size=maps.shape[0])
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        batch = self._prepare(batch)
        target = batch["target"].float()
        recon = self.final_estimate(batch).abs().float()
        loss = self.loss_fn(recon, target)
        self.log(f"{stage}_loss", loss, sync_dist=True, batch_size=target.shape[0])
        self._metrics[stage].update(batch["fname"], _as_list(batch["slice_idx"]), target, recon,
                                    batch.get("scale"))
        if stage == "val" and len(self._panels) < self.num_log_images:
            self._panels.append((f"{batch['fname'][0]}/{_as_list(batch['slice_idx'])[0]}",
                                 image_panel(target[0], recon[0])))
        return loss

    def _gather_volume_metrics(self, stage: str) -> dict[str, dict[str, float]]:
        """Per-volume metrics of every rank (collective: every rank calls it).

        Under DDP the dataset's ``example_groups`` give each volume whole to one rank, so each
        rank scores complete volumes and the gathered dict is exact and the same everywhere.
        """
        from atommic_core.distributed import gather_groups

        return gather_groups(self._metrics[stage].compute(self.convention), f"{stage} metrics")

    def _log_metrics(self, stage: str) -> list[dict[str, Any]]:
        """Per-volume rows (sorted by file name) plus a MEAN row; logs ``<stage>_<metric>``.

        Every rank logs the same gathered means (``sync_dist`` only keeps Lightning quiet).
        """
        per_volume = self._gather_volume_metrics(stage)
        rows = [{"fname": name, **m} for name, m in sorted(per_volume.items())]
        if not rows:
            return []
        mean = self.convention.mean(rows)
        for name in METRIC_NAMES:
            self.log(f"{stage}_{name}", mean[name], sync_dist=True)
        return [*rows, {"fname": "MEAN", "slices": sum(r["slices"] for r in rows), **mean}]

    def on_validation_epoch_end(self) -> None:
        """Log per-volume ``val_ssim``/``val_psnr``/``val_nmse`` and image panels."""
        self._log_metrics("val")
        self._metrics["val"].reset()
        self._flush_val_panels()

    def on_test_epoch_end(self) -> None:
        """Log ``test_*`` metrics; print and write the per-volume table (and PNG panels)."""
        rows = self._log_metrics("test")
        if rows and self._is_global_zero():
            print(f"\n{type(self).__name__} test metrics ({self.convention.header()}):")
            print(format_table(rows))
        if rows and self.output_dir and self._is_global_zero():
            os.makedirs(self.output_dir, exist_ok=True)
            path = write_metrics_csv(os.path.join(self.output_dir, "metrics.csv"),
                                     [{**r, "convention": self.convention.name} for r in rows])
            mean = rows[-1]
            LOG.info("test: %d volume(s), %s; MEAN SSIM %.4f, PSNR %.2f dB, NMSE %.4f; table %s",
                     len(rows) - 1, self.convention.header(), mean["ssim"], mean["psnr"],
                     mean["nmse"], path)
        if rows and self.output_dir and self.cfg.get("write_png", True):
            # each rank holds whole, distinct volumes: it writes their previews
            self._write_test_previews(os.path.join(self.output_dir, "previews"))
        self.test_results = rows
        self._metrics["test"].reset()

    def _write_test_previews(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        for name, (target, recon) in self._metrics["test"].volumes().items():
            mid = target.shape[0] // 2
            stem = os.path.splitext(os.path.basename(name))[0]
            write_panel_png(target[mid], recon[mid], os.path.join(folder, f"{stem}.png"),
                            f"{stem} slice {mid}")

    # -- prediction ------------------------------------------------------------------------
    def predict_step(self, batch: dict[str, Any], batch_idx: int,
                     dataloader_idx: int = 0) -> dict[str, Any]:
        """Magnitude reconstructions, un-normalised by ``scale`` when the batch has it."""
        batch = self._prepare(batch)
        recon = self.final_estimate(batch).abs().float()
        if "scale" in batch:
            recon = recon * torch.as_tensor(batch["scale"], dtype=recon.dtype,
                                            device=recon.device).reshape(-1, 1, 1)
        return {"fname": list(batch["fname"]), "slice_idx": _as_list(batch["slice_idx"]),
                "reconstruction": recon.detach().cpu()}

    def write_predictions(self, outputs: list[Any], output_dir: str) -> list[str]:
        """One HDF5 per volume with ``reconstruction`` [slices, H, W] (+ PNG of the middle slice).

        Args:
            outputs: What :meth:`predict_step` returned, one dict per batch.
            output_dir: Existing folder to write into.

        Returns:
            The paths written.
        """
        volumes: dict[str, dict[int, torch.Tensor]] = defaultdict(dict)
        for out in outputs:
            for i, (name, idx) in enumerate(zip(out["fname"], out["slice_idx"], strict=True)):
                volumes[name][int(idx)] = out["reconstruction"][i]
        paths = []
        for name, slices in sorted(volumes.items()):
            stem = os.path.splitext(os.path.basename(name))[0]
            volume = torch.stack([slices[i] for i in sorted(slices)]).numpy()
            paths.append(write_volume_h5(os.path.join(output_dir, f"{stem}.h5"), volume,
                                         {"model": type(self).__name__, "source": str(name)}))
            if self.cfg.get("write_dicom", False):
                from atommic_core.dicom import write_dicom_series

                paths += write_dicom_series(
                    volume, os.path.join(output_dir, f"{stem}_dicom"), case=stem,
                    description=f"{type(self).__name__} reconstruction")
            if self.cfg.get("write_png", True):
                os.makedirs(os.path.join(output_dir, "previews"), exist_ok=True)
                mid = volume.shape[0] // 2
                paths.append(write_labelled_png(
                    volume[mid], os.path.join(output_dir, "previews", f"{stem}.png"),
                    f"{stem} slice {mid}: reconstruction"))
        return paths


def _ssdu_options(value: Any) -> dict[str, Any] | None:
    """``model.ssdu``: None/false (supervised), true (defaults) or a dict of split options."""
    if value is None or value is False:
        return None
    from atommic_rec.transforms import SSDUSplit

    options = {} if value is True else (OmegaConf.to_container(value, resolve=True)
                                        if isinstance(value, DictConfig) else dict(value))
    try:
        SSDUSplit(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model.ssdu: {exc}; expected true or a dict of rho (0.4), selection "
                          "(uniform | gaussian), acs_block ([4, 4]), std_scale (4.0)") from None
    return options


def _build_sensitivity_net(cfg: Any, fft_kw: dict[str, Any]) -> torch.nn.Module | None:
    """The learned coil-map estimator of ``use_sens_net`` (E2E VarNet's), or None."""
    if not cfg.get("use_sens_net", False):
        return None
    from atommic_rec.nets import SensitivityNet

    return SensitivityNet(int(cfg.get("sens_chans", 8)), int(cfg.get("sens_pools", 4)),
                          mask_center=bool(cfg.get("sens_mask_center", True)), fft_kw=fft_kw)


def _as_list(values: Any) -> list:
    return values.tolist() if isinstance(values, torch.Tensor) else list(values)
