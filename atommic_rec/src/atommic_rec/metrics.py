"""Reconstruction metrics: SSIM, PSNR and NMSE per slice, and per volume under a named convention.

Two evaluation conventions score a volume (see :data:`CONVENTIONS`):

- ``fastmri`` (default), as fastMRI's ``evaluate.py`` (Zbontar et al., arXiv:1811.08839):
  magnitudes in file units, float64, data range = the target volume's maximum; SSIM = mean of
  the slice SSIMs, PSNR and NMSE over the whole volume; the table mean is over volumes.
- ``atommic``, as ATOMMIC's ``tools/evaluation/reconstruction.py`` with its default
  ``--evaluation_type per_slice`` (Karkalousos et al., arXiv:2404.19665): every slice of the
  target and of the prediction is divided by its own maximum; data range = the larger of the
  two normalised volumes' ranges (``max - min``), at least 1 for SSIM; SSIM, PSNR and NMSE per
  slice; the table mean is over all slices of all volumes. A row holds the mean over its
  volume's slices.

SSIM everywhere: 7x7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance, a border of 3
pixels excluded, as ``skimage.metrics.structural_similarity``; never above 1.

Zero ranges (no NaN, no crash): a data range of 0 is replaced by the prediction's maximum,
and by 1 when that is 0 too; two all-zero images score SSIM 1, PSNR inf and NMSE 0. NMSE of
an all-zero target against a non-zero prediction is 1 (the error is normalised by the
prediction's energy instead). Under ``atommic`` an all-zero slice stays zero (divided by 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["CONVENTIONS", "DEFAULT_CONVENTION", "METRIC_NAMES", "EvaluationConvention",
           "VolumeMetrics", "get_convention", "nmse", "psnr", "ssim", "volume_metrics"]

METRIC_NAMES = ("ssim", "psnr", "nmse")
DEFAULT_CONVENTION = "fastmri"


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.is_complex() or x.ndim not in (2, 3):
        raise ValueError(f"{name}: expected a real magnitude image [H, W] or [B, H, W], found "
                         f"{x.dtype} of shape {tuple(x.shape)}; hint: take .abs() first")
    x = x if x.ndim == 3 else x.unsqueeze(0)
    return x.to(torch.promote_types(x.dtype, torch.float32))  # float64 stays float64


def _data_range(maxval: float | torch.Tensor | None, target: torch.Tensor,
                prediction: torch.Tensor) -> torch.Tensor:
    """Per-slice data range [B]: ``maxval`` (or each target slice's max), zero ranges guarded."""
    if maxval is None:
        value = target.amax(dim=(-2, -1))
    else:
        value = torch.as_tensor(maxval, dtype=target.dtype, device=target.device).reshape(-1)
        value = value.expand(target.shape[0])
    fallback = prediction.detach().amax(dim=(-2, -1)).to(value.dtype)
    value = torch.where(value > 0, value, fallback)
    return torch.where(value > 0, value, torch.ones_like(value))


def ssim(target: torch.Tensor, prediction: torch.Tensor,
         maxval: float | torch.Tensor | None = None, win_size: int = 7, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Structural similarity of each slice (differentiable; matches skimage's defaults).

    Args:
        target: Magnitude images, float [B, H, W] or [H, W] (float64 is kept).
        prediction: Same shape as ``target``.
        maxval: Data range: a number, a per-slice tensor [B], or None for each slice's max
            (a zero range falls back as described in the module docstring).
        win_size: Side of the uniform window (odd, at most H and W).
        k1: Luminance constant.
        k2: Contrast constant.

    Returns:
        SSIM per slice [B], at most 1, float32 (float64 for float64 inputs).
    """
    t, p = _as_batch(target, "ssim target"), _as_batch(prediction, "ssim prediction")
    if t.shape != p.shape or min(t.shape[-2:]) < win_size:
        raise ValueError(f"ssim: expected equal shapes of at least {win_size}x{win_size}, found "
                         f"{tuple(t.shape)} and {tuple(p.shape)}")
    p = p.to(t.dtype)
    data_range = _data_range(maxval, t, p).view(-1, 1, 1, 1)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    kernel = torch.full((1, 1, win_size, win_size), 1.0 / win_size**2, dtype=t.dtype,
                        device=t.device)
    x, y = t.unsqueeze(1), p.unsqueeze(1)
    stats = F.conv2d(torch.cat([x, y, x * x, y * y, x * y]).flatten(0, 1).unsqueeze(1), kernel)
    ux, uy, uxx, uyy, uxy = stats.view(5, t.shape[0], 1, *stats.shape[-2:])
    cov_norm = win_size**2 / (win_size**2 - 1)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    # SSIM <= 1 exactly; only rounding can push a mean above it
    return s.mean(dim=(-3, -2, -1)).clamp(max=1.0)


def psnr(target: torch.Tensor, prediction: torch.Tensor,
         maxval: float | torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio of each slice, ``10 log10(maxval^2 / MSE)`` in dB.

    Args:
        target: Magnitude images, float [B, H, W] or [H, W].
        prediction: Same shape as ``target``.
        maxval: A number, a per-slice tensor [B], or None for each slice's max.

    Returns:
        PSNR per slice [B] (inf where the slices are equal).
    """
    t, p = _as_batch(target, "psnr target"), _as_batch(prediction, "psnr prediction")
    p = p.to(t.dtype)
    mse = (t - p).square().mean(dim=(-2, -1))
    return 10 * torch.log10(_data_range(maxval, t, p) ** 2 / mse)


def nmse(target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Normalised mean squared error of each slice, ``||t - p||^2 / ||t||^2``.

    Args:
        target: Magnitude images, float [B, H, W] or [H, W].
        prediction: Same shape as ``target``.

    Returns:
        NMSE per slice [B] (an all-zero target slice: 0 if the prediction is zero too, else 1).
    """
    t, p = _as_batch(target, "nmse target"), _as_batch(prediction, "nmse prediction")
    p = p.to(t.dtype)
    error = (t - p).square().sum(dim=(-2, -1))
    energy = t.square().sum(dim=(-2, -1))
    energy = torch.where(energy > 0, energy, p.square().sum(dim=(-2, -1)))
    return error / torch.where(energy > 0, energy, torch.ones_like(energy))


def _first_positive(*values: float) -> float:
    return next((v for v in values if v > 0), 1.0)


def _fastmri_volume(t: torch.Tensor, p: torch.Tensor) -> dict[str, float]:
    maxval = _first_positive(float(t.max()), float(p.max()))
    mse = float((t - p).square().mean())
    return {"ssim": float(ssim(t, p, maxval).mean()),
            "psnr": 10 * math.log10(maxval**2 / mse) if mse > 0 else math.inf,
            "nmse": float(nmse(t.flatten(0, 1), p.flatten(0, 1)))}


def _per_slice_max_normalised(x: torch.Tensor) -> torch.Tensor:
    peak = x.abs().amax(dim=(-2, -1), keepdim=True)
    return (x / torch.where(peak > 0, peak, torch.ones_like(peak))).abs()


def _atommic_volume(t: torch.Tensor, p: torch.Tensor) -> dict[str, float]:
    t, p = _per_slice_max_normalised(t), _per_slice_max_normalised(p)
    value_range = _first_positive(max(float(t.max() - t.min()), float(p.max() - p.min())))
    return {"ssim": float(ssim(t, p, max(value_range, 1.0)).mean()),
            "psnr": float(psnr(t, p, value_range).mean()),
            "nmse": float(nmse(t, p).mean())}


@dataclass(frozen=True)
class EvaluationConvention:
    """How a volume is scored and how per-volume rows are averaged.

    Attributes:
        name: Config value (``model.evaluation_convention``).
        description: One line for table headers: what is averaged, data range, units.
        score: ``(target, prediction)`` float64 volumes [S, H, W] in file units -> metrics.
        mean_over: ``"volumes"`` (each row weighs 1) or ``"slices"`` (rows weigh their slices).
    """

    name: str
    description: str
    score: Callable[[torch.Tensor, torch.Tensor], dict[str, float]]
    mean_over: str

    def header(self) -> str:
        """``<name> convention: <description>``."""
        return f"{self.name} convention: {self.description}"

    def mean(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
        """The table's MEAN of rows holding ``slices`` and the metrics (float64)."""
        rows = list(rows)
        weights = [float(r["slices"]) if self.mean_over == "slices" else 1.0 for r in rows]
        total = sum(weights)
        return {k: math.fsum(w * float(r[k]) for w, r in zip(weights, rows, strict=True)) / total
                for k in METRIC_NAMES}


CONVENTIONS: dict[str, EvaluationConvention] = {
    "fastmri": EvaluationConvention(
        "fastmri", "per volume, magnitudes in file units, data range = target volume max; "
        "SSIM = mean of 7x7 slice SSIMs, PSNR/NMSE over the volume; MEAN over volumes",
        _fastmri_volume, "volumes"),
    "atommic": EvaluationConvention(
        "atommic", "each slice divided by its own max (target and prediction apart), data "
        "range = normalised range; SSIM/PSNR/NMSE per slice, row = mean over its slices; "
        "MEAN over all slices", _atommic_volume, "slices"),
}


def get_convention(name: str | EvaluationConvention | None) -> EvaluationConvention:
    """Look a convention up by name (None: the default, ``fastmri``).

    Raises:
        ValueError: for an unknown name.
    """
    if isinstance(name, EvaluationConvention):
        return name
    key = DEFAULT_CONVENTION if name is None else str(name).lower()
    if key not in CONVENTIONS:
        raise ValueError(f"evaluation_convention: expected one of {', '.join(CONVENTIONS)}; "
                         f"found {name!r}")
    return CONVENTIONS[key]


def volume_metrics(target: torch.Tensor, prediction: torch.Tensor,
                   convention: str | EvaluationConvention | None = None) -> dict[str, float]:
    """Metrics of one volume under a convention (computed in float64).

    Args:
        target: Magnitude volume [slices, H, W], in file units.
        prediction: Same shape.
        convention: ``"fastmri"`` (default) or ``"atommic"``.

    Returns:
        ``{"ssim": ..., "psnr": ..., "nmse": ...}`` as floats.
    """
    t = _as_batch(target, "target volume").double()
    p = _as_batch(prediction, "prediction volume").double()
    if t.shape != p.shape:
        raise ValueError(f"volume_metrics: expected equal shapes, found {tuple(t.shape)} and "
                         f"{tuple(p.shape)}")
    return get_convention(convention).score(t, p)


class VolumeMetrics:
    """Collect slices by file name across batches, then compute per-volume metrics.

    Slices are stored as given (float32) with their ``scale``; volumes are put back in file
    units (``slice * scale``, float64) when scored.

    Example:
        >>> acc = VolumeMetrics()
        >>> acc.update(["a.h5"], [0], torch.ones(1, 8, 8), torch.ones(1, 8, 8))
        >>> acc.compute()["a.h5"]["nmse"]
        0.0
    """

    def __init__(self) -> None:
        self._slices: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor, float]]] = \
            defaultdict(dict)

    def update(self, fnames: Iterable[str], slice_indices: Iterable[int], target: torch.Tensor,
               prediction: torch.Tensor, scale: Iterable[float] | torch.Tensor | None = None
               ) -> None:
        """Store a batch: names, slice numbers and scales per item, magnitudes float [B, H, W].

        ``scale`` is what the ``normalize`` transform divided the data by (default 1).
        """
        names = [str(n) for n in fnames]
        scales = [1.0] * len(names) if scale is None else \
            [float(s) for s in (scale.tolist() if isinstance(scale, torch.Tensor) else scale)]
        for i, (name, idx, s) in enumerate(zip(names, slice_indices, scales, strict=True)):
            self._slices[name][int(idx)] = (target[i].detach().float().cpu(),
                                            prediction[i].detach().float().cpu(), s)

    def volumes(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``(target, prediction)`` float64 [slices, H, W] in file units, slices in order."""
        out = {}
        for name, slices in self._slices.items():
            order = sorted(slices)
            scale = torch.tensor([slices[i][2] for i in order], dtype=torch.float64)[:, None, None]
            out[name] = (torch.stack([slices[i][0] for i in order]).double() * scale,
                         torch.stack([slices[i][1] for i in order]).double() * scale)
        return out

    def compute(self, convention: str | EvaluationConvention | None = None
                ) -> dict[str, dict[str, float]]:
        """Per-volume metrics ``{fname: {"slices", "ssim", "psnr", "nmse"}}``."""
        conv = get_convention(convention)
        return {name: {"slices": t.shape[0], **volume_metrics(t, p, conv)}
                for name, (t, p) in self.volumes().items()}

    def reset(self) -> None:
        """Forget all stored slices."""
        self._slices.clear()

    def __len__(self) -> int:
        return len(self._slices)
