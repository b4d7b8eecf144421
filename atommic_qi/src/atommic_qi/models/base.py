"""``QuantitativeModel``: the shared training, evaluation and output logic of QI models.

A subclass builds its network in :meth:`QuantitativeModel.build_networks` and refines the
fitted initial maps in :meth:`QuantitativeModel.refine`; the fit, the optional reconstruction
module, the per-map loss, per-volume metrics (exact under DDP), tables, previews and
prediction files are here, once.
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
from atommic_qi.fitting import clip_maps, fit_maps, parse_ranges
from atommic_qi.losses import DEFAULT_MAP_WEIGHTS, QuantitativeLoss
from atommic_qi.metrics import CONVENTION, QMapMetrics, mean_row, metric_keys
from atommic_qi.models._outputs import (
    colour_panel,
    write_map_nifti,
    write_panel_png,
    write_qmaps_h5,
)
from atommic_qi.models._reconstruction import build_reconstruction_module, reconstruct_echoes
from atommic_qi.physics.signal import MAP_NAMES, get_signal_model
from atommic_rec.models._outputs import format_table, write_metrics_csv

__all__ = ["QuantitativeModel"]

LOG = logging.getLogger("atommic_core.qi")

_COMPLEX_KEYS = ("masked_kspace", "sensitivity_maps", "initial_image")
_REAL_KEYS = ("mask", "qmaps_target", "anatomy_mask", "target")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) \
        else value


def _as_list(values: Any) -> list:
    return values.tolist() if isinstance(values, torch.Tensor) else list(values)


class QuantitativeModel(EvalStepsMixin, ModelPT):
    """Base class of the quantitative (R2*, S0, B0, phi) models.

    Batches are collated dicts of :func:`atommic_qi.data.build_qi_dataset`:
    ``masked_kspace`` complex64 ``[B, E, C, H, W]``, ``sensitivity_maps`` ``[B, C, H, W]``,
    ``mask``, ``initial_image`` (zero-filled echoes) ``[B, E, H, W]``, ``target`` (echo
    magnitudes), ``qmaps_target`` ``[B, 4, H, W]``, ``anatomy_mask`` ``[B, H, W]``, ``TEs``
    ``[B, E]`` (ms), ``scale``, ``fname``, ``slice_idx``.

    Config keys (``model`` section) shared by all QI models: ``signal_model`` (``gre`` or
    ``atommic_megre``, see :mod:`atommic_qi.physics.signal`), ``map_ranges`` (``{R2star: [0,
    500], ...}`` clipping, in the signal model's units), ``map_scales`` (per-map scales of
    the networks and the loss; default: the signal model's), ``fit_smoothing_sigma`` (0:
    Gaussian filter of the echoes before the fit, pixels), ``quantitative_loss`` (``{l1:
    1.0}``), ``loss_weights`` (``[150, 150, 1000, 150]``, see :mod:`atommic_qi.losses`),
    ``intermediate_loss_weighting`` (``logspace``), ``sigma`` (1.0), FFT keys, ``log_images``
    (2), ``write_png``/``write_nifti`` (True) and the reconstruction module keys (see
    :mod:`atommic_qi.models._reconstruction`).

    Args:
        cfg: The ``model`` section of the config.
        trainer: The Lightning trainer, if any.
    """

    evaluation_keys = ("write_png", "write_nifti")

    def __init__(self, cfg: DictConfig | dict, trainer: Any = None) -> None:
        super().__init__(cfg, trainer)
        c = self.cfg
        self.fft_kw = {"centered": bool(c.get("fft_centered", True)),
                       "normalization": str(c.get("fft_normalization", "ortho")),
                       "spatial_dims": tuple(c.get("spatial_dims", (-2, -1)))}
        try:
            self.signal_model = get_signal_model(c.get("signal_model"))
            self.map_ranges = parse_ranges(_plain(c.get("map_ranges")), self.signal_model)
            scales = _plain(c.get("map_scales")) or self.signal_model.scales
            self.loss_fn = QuantitativeLoss(_plain(c.get("quantitative_loss")),
                                            _plain(c.get("loss_weights")) or DEFAULT_MAP_WEIGHTS,
                                            self.signal_model, scales)
        except ValueError as exc:
            raise ConfigError(f"model.{exc}") from None
        self.map_scales = tuple(self.loss_fn.scales)
        self.fit_smoothing = float(c.get("fit_smoothing_sigma", 0.0))
        self.intermediate_weighting = str(c.get("intermediate_loss_weighting", "logspace"))
        self.sigma = float(c.get("sigma", 1.0))
        if not self.sigma > 0:
            raise ConfigError(f"model.sigma: expected > 0 (the noise standard deviation of the "
                              f"likelihood); found {self.sigma}")
        self.num_log_images = int(c.get("log_images", 2))
        model = self.signal_model
        self._metrics = {s: QMapMetrics(model.amplitude_maps, model.phase_maps)
                         for s in ("val", "test")}
        self._panels: list[tuple[str, torch.Tensor]] = []
        self.reconstruction_loss_weight = float(c.get("reconstruction_loss_weight", 1.0))
        module = build_reconstruction_module(c)
        self.reconstruction_module = None
        if module is not None:
            self.register_atommic_submodule("reconstruction_module", "reconstruction_module",
                                            module)
        self.build_networks()

    # -- to implement ----------------------------------------------------------------------
    def build_networks(self) -> None:
        """Create the network modules from ``self.cfg`` (subclasses implement)."""

    def refine(self, maps: torch.Tensor, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Estimates after the initial maps, in order (none for the fit alone).

        Args:
            maps: Initial maps ``[B, 4, H, W]`` in physical (normalised-data) units.
            batch: The prepared batch.

        Returns:
            Maps ``[B, 4, H, W]``; the last is the model's estimate.
        """
        return []

    # -- data ------------------------------------------------------------------------------
    def build_dataset(self, cfg: DictConfig, split: str) -> Any:
        """The multi-echo dataset of :func:`atommic_qi.data.build_qi_dataset`."""
        from atommic_qi.data import build_qi_dataset

        return build_qi_dataset(cfg, split, model_cfg=self.cfg)

    def _prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        # Lightning's 64-true plugin casts float inputs only: complex ones are cast here.
        real = torch.float64 if self.dtype == torch.float64 else torch.float32
        cplx = torch.complex128 if real == torch.float64 else torch.complex64
        out = dict(batch)
        for key in _COMPLEX_KEYS:
            if key in out:
                out[key] = out[key].to(cplx)
        for key in _REAL_KEYS:
            if key in out:
                out[key] = out[key].to(real)
        return out

    # -- estimation ------------------------------------------------------------------------
    def initial_maps(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fit the maps to the echoes (the reconstruction module's, if any) in the brain mask.

        Args:
            batch: The prepared batch.

        Returns:
            The maps ``[B, 4, H, W]`` and the reconstructed echoes (None without a module).
        """
        echoes = None
        if self.reconstruction_module is not None:
            echoes = reconstruct_echoes(self.reconstruction_module, batch)
        source = batch["initial_image"] if echoes is None else echoes
        maps = fit_maps(source, batch["TEs"], batch["anatomy_mask"],
                        smoothing_sigma=self.fit_smoothing, ranges=self.map_ranges,
                        signal_model=self.signal_model)
        return maps, echoes

    def estimate(self, batch: dict[str, Any]) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """All map estimates (clipped to ``map_ranges``, zero outside the brain mask).

        Args:
            batch: The prepared batch.

        Returns:
            The estimates in order (the initial maps alone for the fit) and the echoes of the
            reconstruction module (or None).
        """
        maps, echoes = self.initial_maps(batch)
        refined = self.refine(maps, batch) or [maps]
        mask = batch["anatomy_mask"].unsqueeze(1).to(maps.dtype)
        return [clip_maps(m, self.map_ranges) * mask for m in refined], echoes

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor, initial_image: torch.Tensor, TEs: torch.Tensor,
                anatomy_mask: torch.Tensor) -> torch.Tensor:
        """Estimate the maps of a batch.

        Args:
            masked_kspace: complex64 ``[B, E, C, H, W]``.
            sensitivity_maps: complex64 ``[B, C, H, W]``.
            mask: float, broadcastable to ``masked_kspace``.
            initial_image: zero-filled echoes, complex64 ``[B, E, H, W]``.
            TEs: echo times in ms ``[B, E]``.
            anatomy_mask: brain mask ``[B, H, W]``.

        Returns:
            The final maps ``[B, 4, H, W]`` (R2*, S0, B0, phi) in normalised-data units.
        """
        batch = self._prepare({"masked_kspace": masked_kspace, "sensitivity_maps":
                               sensitivity_maps, "mask": mask, "initial_image": initial_image,
                               "TEs": TEs, "anatomy_mask": anatomy_mask})
        return self.estimate(batch)[0][-1]

    # -- steps -----------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """Per-map loss over all estimates, plus the echo loss of a joint reconstruction."""
        batch = self._prepare(batch)
        estimates, echoes = self.estimate(batch)
        loss = self.loss_fn.iterative(estimates, batch["qmaps_target"], batch["anatomy_mask"],
                                      self.intermediate_weighting)
        if echoes is not None and self.reconstruction_loss_weight > 0:
            rec = self.reconstruction_module.loss_fn(echoes.abs().float().flatten(0, 1),
                                                     batch["target"].float().flatten(0, 1))
            self.log("train_reconstruction_loss", rec, batch_size=echoes.shape[0])
            loss = loss + self.reconstruction_loss_weight * rec
        self.log("train_loss", loss, prog_bar=True, batch_size=estimates[-1].shape[0])
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        batch = self._prepare(batch)
        maps = self.estimate(batch)[0][-1]
        target, mask = batch["qmaps_target"], batch["anatomy_mask"]
        loss = self.loss_fn(maps, target, mask)
        self.log(f"{stage}_loss", loss, sync_dist=True, batch_size=maps.shape[0])
        self._metrics[stage].update(batch["fname"], _as_list(batch["slice_idx"]), target, maps,
                                    mask, batch.get("scale"))
        if stage == "val" and len(self._panels) < self.num_log_images:
            tag = f"{batch['fname'][0]}/{_as_list(batch['slice_idx'])[0]}"
            self._panels.append((tag, self._panel_tensor(target[0], maps[0], mask[0])))
        return loss

    # -- metrics ---------------------------------------------------------------------------
    def _gather_volume_metrics(self, stage: str) -> dict[str, dict[str, float]]:
        """Per-volume metrics of every rank (collective: every rank calls it).

        Under DDP the dataset's ``example_groups`` give each volume whole to one rank, so the
        gathered dict is exact and the same on every rank (as in REC).
        """
        from atommic_core.distributed import gather_groups

        return gather_groups(self._metrics[stage].compute(), f"{stage} metrics")

    def _log_metrics(self, stage: str) -> list[dict[str, Any]]:
        """Per-volume rows plus a MEAN row; logs ``<stage>_<map>_<metric>`` and map means."""
        per_volume = self._gather_volume_metrics(stage)
        rows = [{"fname": name, **m} for name, m in sorted(per_volume.items())]
        if not rows:
            return []
        mean = mean_row(rows)
        for name in metric_keys():
            self.log(f"{stage}_{name}", mean[name], sync_dist=True)
        return [*rows, {"fname": "MEAN", "slices": sum(r["slices"] for r in rows), **mean}]

    def on_validation_epoch_end(self) -> None:
        """Log per-map ``val_*`` metrics (and ``val_ssim`` etc., means over maps) and panels."""
        self._log_metrics("val")
        self._metrics["val"].reset()
        self._flush_val_panels()

    def on_test_epoch_end(self) -> None:
        """Log ``test_*``; print and write the per-volume table (and previews per map)."""
        rows = self._log_metrics("test")
        if rows and self._is_global_zero():
            print(f"\n{type(self).__name__} test metrics ({CONVENTION}; units: "
                  f"{self._units_text()}):")
            print(format_table(_table_rows(rows)))
        if rows and self.output_dir and self._is_global_zero():
            os.makedirs(self.output_dir, exist_ok=True)
            path = write_metrics_csv(os.path.join(self.output_dir, "metrics.csv"),
                                     [{**r, "convention": "qmri"} for r in rows])
            LOG.info("test: %d volume(s); MEAN SSIM %s; table %s", len(rows) - 1,
                     ", ".join(f"{m} {rows[-1][f'{m}_ssim']:.4f}" for m in MAP_NAMES), path)
        if rows and self.output_dir and self.cfg.get("write_png", True):
            folder = os.path.join(self.output_dir, "previews")
            os.makedirs(folder, exist_ok=True)
            for name, (target, maps, mask) in self._metrics["test"].volumes().items():
                mid, stem = target.shape[0] // 2, os.path.splitext(os.path.basename(name))[0]
                self._write_previews(folder, stem, maps[mid].numpy(), mask[mid].numpy(),
                                     target[mid].numpy())
        self.test_results = rows
        self._metrics["test"].reset()

    def _units_text(self) -> str:
        return ", ".join(f"{n} {u}" for n, u in zip(MAP_NAMES, self.signal_model.units,
                                                    strict=True))

    # -- images ----------------------------------------------------------------------------
    def _panel_tensor(self, target: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor
                      ) -> torch.Tensor:
        """TensorBoard panel: rows R2*/S0/B0/phi, columns target | estimate | |error|."""
        rows = []
        for k in range(len(MAP_NAMES)):
            t, p = target[k].detach().float().cpu(), maps[k].detach().float().cpu()
            scale = float(t.abs().max()) or 1.0
            rows.append(torch.cat([t.abs(), p.abs(), (t - p).abs()], dim=-1) / scale)
        return torch.cat(rows, dim=-2).clamp(0, 1).unsqueeze(0)

    def _write_previews(self, folder: str, stem: str, maps: Any, mask: Any,
                        target: Any = None) -> list[str]:
        """One PNG per map (estimate, or target | estimate | |error|) with a colour bar."""
        paths = []
        for k, (name, unit) in enumerate(zip(MAP_NAMES, self.signal_model.units, strict=True)):
            diverging = k == 2 or k in self.signal_model.phase_maps
            images = [maps[k]] if target is None else [target[k], maps[k]]
            titles = ["estimate"] if target is None else ["target", "estimate"]
            panel = colour_panel(images, titles, f"{name} ({unit})", diverging=diverging,
                                 mask=mask)
            paths.append(write_panel_png(panel, os.path.join(folder, f"{stem}_{name}.png")))
        return paths

    # -- prediction ------------------------------------------------------------------------
    def predict_step(self, batch: dict[str, Any], batch_idx: int,
                     dataloader_idx: int = 0) -> dict[str, Any]:
        """Maps in file units (amplitude maps multiplied back by ``scale``) and brain masks."""
        batch = self._prepare(batch)
        maps = self.estimate(batch)[0][-1].detach().float().cpu()
        if "scale" in batch and self.signal_model.amplitude_maps:
            scale = torch.as_tensor(batch["scale"], dtype=maps.dtype).reshape(-1, 1, 1)
            for k in self.signal_model.amplitude_maps:
                maps[:, k] = maps[:, k] * scale
        return {"fname": list(batch["fname"]), "slice_idx": _as_list(batch["slice_idx"]),
                "qmaps": maps, "anatomy_mask": batch["anatomy_mask"].detach().float().cpu()}

    def write_predictions(self, outputs: list[Any], output_dir: str) -> list[str]:
        """Write per volume an HDF5, a NIfTI per map and a PNG per map.

        Files: ``<stem>.h5`` (``qmaps`` and each ``<map>_map``, units as attributes),
        ``<stem>_<map>.nii.gz`` (with the file's ``affine`` when it has one) and
        ``previews/<stem>_<map>.png`` (middle slice, colour bar with the unit).

        Args:
            outputs: What :meth:`predict_step` returned, one dict per batch.
            output_dir: Existing folder to write into.

        Returns:
            The paths written.
        """
        volumes: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]] = defaultdict(dict)
        for out in outputs:
            for i, (name, idx) in enumerate(zip(out["fname"], out["slice_idx"], strict=True)):
                volumes[name][int(idx)] = (out["qmaps"][i], out["anatomy_mask"][i])
        dataset = getattr(self._loaders.get("predict"), "dataset", None)
        units = self.signal_model.units
        paths = []
        for name, slices in sorted(volumes.items()):
            stem = os.path.splitext(os.path.basename(name))[0]
            order = sorted(slices)
            maps = torch.stack([slices[i][0] for i in order]).numpy()
            mask = torch.stack([slices[i][1] for i in order]).numpy()
            attrs = {"model": type(self).__name__, "source": str(name),
                     "signal_model": self.signal_model.name, "slices": order}
            paths.append(write_qmaps_h5(os.path.join(output_dir, f"{stem}.h5"), maps,
                                        MAP_NAMES, units, attrs, mask))
            affine = dataset.affine(name) if hasattr(dataset, "affine") else None
            if self.cfg.get("write_nifti", True):
                for k, map_name in enumerate(MAP_NAMES):
                    paths.append(write_map_nifti(
                        os.path.join(output_dir, f"{stem}_{map_name}.nii.gz"), maps[:, k],
                        affine, units[k]))
            if self.cfg.get("write_png", True):
                folder = os.path.join(output_dir, "previews")
                os.makedirs(folder, exist_ok=True)
                mid = maps.shape[0] // 2
                paths += self._write_previews(folder, stem, maps[mid], mask[mid])
        return paths


def _table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The printed table: SSIM and MAE per map (the CSV holds every metric)."""
    keys = [f"{m}_{k}" for k in ("ssim", "mae") for m in MAP_NAMES]
    return [{"fname": r["fname"], **{k: float(r[k]) for k in keys}} for r in rows]
