"""Per-map metrics of quantitative maps inside the brain mask, per volume (``qmri`` convention).

The ``qmri`` convention scores each map of a volume in physical units (the signal model's:
R2* 1/s, S0 in file units, B0 Hz, phi rad), inside the brain mask, in float64:

* ``mae``: mean absolute error over brain-mask voxels, in the map's unit (for phase maps the
  difference is wrapped to (-pi, pi]) -- the figure qMRI studies report;
* ``ssim``: mean over slices of the 7x7 SSIM of the masked maps (REC's
  :func:`atommic_rec.metrics.ssim`; outside the mask both are 0), data range = max - min of the
  target inside the mask over the volume;
* ``psnr``: ``10 log10(range^2 / MSE)`` with the MSE over brain-mask voxels;
* ``nmse``: ``||p - t||^2 / ||t||^2`` over brain-mask voxels (REC's :func:`nmse`).

A table's MEAN row averages volumes (each weighs 1). ``ssim``/``psnr``/``nmse``/``mae`` without
a map prefix are means over the four maps (what checkpoints monitor).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import torch

from atommic_qi.physics.signal import MAP_NAMES
from atommic_rec.metrics import nmse, ssim

__all__ = ["CONVENTION", "QI_METRICS", "QMapMetrics", "map_volume_metrics", "mean_row",
           "metric_keys"]

QI_METRICS = ("ssim", "psnr", "nmse", "mae")
CONVENTION = ("qmri convention: per volume, physical units, inside the brain mask; SSIM = mean "
              "of 7x7 slice SSIMs of masked maps, data range = target max - min in the mask; "
              "PSNR/NMSE/MAE over mask voxels (phase errors wrapped); MEAN over volumes")


def metric_keys() -> list[str]:
    """``R2star_ssim`` ... ``phi_mae``, then the means over maps ``ssim`` ... ``mae``."""
    return [f"{m}_{k}" for m in MAP_NAMES for k in QI_METRICS] + list(QI_METRICS)


def map_volume_metrics(target: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor,
                       phase: bool = False) -> dict[str, float]:
    """Metrics of one map of one volume (see the module docstring).

    Args:
        target: ``[slices, H, W]`` in physical units.
        prediction: Same shape.
        mask: ``[slices, H, W]`` 0/1 brain mask.
        phase: The map is an angle (radians): errors are wrapped.

    Returns:
        ``{"ssim", "psnr", "nmse", "mae"}`` as floats (an empty mask gives NaN).
    """
    t, p, m = (x.double() for x in (target, prediction, mask))
    if t.shape != p.shape or t.shape != m.shape or t.ndim != 3:
        raise ValueError(f"map metrics: expected target, prediction and mask [slices, H, W] of "
                         f"one shape; found {tuple(t.shape)}, {tuple(p.shape)}, "
                         f"{tuple(m.shape)}")
    inside = m > 0.5
    if not bool(inside.any()):
        return dict.fromkeys(QI_METRICS, math.nan)
    diff = p - t
    if phase:
        diff = torch.remainder(diff + math.pi, 2 * math.pi) - math.pi
    values = t[inside]
    data_range = float(values.max() - values.min()) or float(values.abs().max()) or 1.0
    mse = float(diff[inside].square().mean())
    mask_f = inside.double()
    return {"ssim": float(ssim(t * mask_f, (t + diff) * mask_f, data_range).mean()),
            "psnr": 10 * math.log10(data_range**2 / mse) if mse > 0 else math.inf,
            "nmse": float(nmse(values[None, None], (values + diff[inside])[None, None])),
            "mae": float(diff[inside].abs().mean())}


class QMapMetrics:
    """Collect map slices by file name across batches, then score each volume.

    Amplitude maps (S0) are stored multiplied by the batch ``scale`` (back to file units).

    Args:
        amplitude_maps: Indices of maps that scale with the data normalisation.
        phase_maps: Indices of maps that are angles in radians.
    """

    def __init__(self, amplitude_maps: Sequence[int] = (1,), phase_maps: Sequence[int] = (3,)
                 ) -> None:
        self.amplitude_maps = tuple(amplitude_maps)
        self.phase_maps = tuple(phase_maps)
        self._slices: dict[str, dict[int, tuple[torch.Tensor, ...]]] = defaultdict(dict)

    def _units(self, maps: torch.Tensor, scale: float) -> torch.Tensor:
        maps = maps.detach().float().cpu().clone()
        for i in self.amplitude_maps:
            maps[i] *= scale
        return maps

    def update(self, fnames: Iterable[str], slice_indices: Iterable[int], target: torch.Tensor,
               prediction: torch.Tensor, mask: torch.Tensor,
               scale: Iterable[float] | torch.Tensor | None = None) -> None:
        """Store a batch: maps ``[B, 4, H, W]`` (normalised units), brain masks ``[B, H, W]``.

        Args:
            fnames: File name of each item.
            slice_indices: Slice number of each item.
            target: Target maps.
            prediction: Estimated maps.
            mask: Brain masks.
            scale: What the data were divided by (default 1).
        """
        names = [str(n) for n in fnames]
        scales = [1.0] * len(names) if scale is None else \
            [float(s) for s in (scale.tolist() if isinstance(scale, torch.Tensor) else scale)]
        for i, (name, idx, s) in enumerate(zip(names, slice_indices, scales, strict=True)):
            self._slices[name][int(idx)] = (self._units(target[i], s),
                                            self._units(prediction[i], s),
                                            mask[i].detach().float().cpu())

    def volumes(self) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``(target, prediction, mask)`` per file: ``[S, 4, H, W]`` maps, ``[S, H, W]`` mask."""
        out = {}
        for name, slices in self._slices.items():
            order = sorted(slices)
            out[name] = tuple(torch.stack([slices[i][k] for i in order]) for k in range(3))
        return out

    def compute(self) -> dict[str, dict[str, float]]:
        """Per-volume metrics ``{fname: {"slices", "R2star_ssim", ..., "ssim", ...}}``."""
        results = {}
        for name, (target, prediction, mask) in self.volumes().items():
            row: dict[str, float] = {"slices": target.shape[0]}
            for i, map_name in enumerate(MAP_NAMES):
                scores = map_volume_metrics(target[:, i], prediction[:, i], mask,
                                            phase=i in self.phase_maps)
                row.update({f"{map_name}_{k}": v for k, v in scores.items()})
            for k in QI_METRICS:
                row[k] = math.fsum(row[f"{m}_{k}"] for m in MAP_NAMES) / len(MAP_NAMES)
            results[name] = row
        return results

    def reset(self) -> None:
        """Forget all stored slices."""
        self._slices.clear()

    def __len__(self) -> int:
        return len(self._slices)


def mean_row(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """The MEAN over volume rows of every metric (each volume weighs 1)."""
    return {k: math.fsum(float(r[k]) for r in rows) / len(rows) for k in metric_keys()}
