"""Reconstruction metrics: SSIM, PSNR and NMSE per slice and per volume (fastMRI conventions).

Per-volume values follow the fastMRI evaluation: ``maxval`` is the maximum of the target
volume; SSIM is the mean of the slice SSIMs (7x7 uniform window, K1=0.01, K2=0.03, sample
covariance, border of 3 pixels excluded, as ``skimage.metrics.structural_similarity``), PSNR
and NMSE are computed over the whole volume.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import torch
import torch.nn.functional as F

__all__ = ["METRIC_NAMES", "VolumeMetrics", "nmse", "psnr", "ssim", "volume_metrics"]

METRIC_NAMES = ("ssim", "psnr", "nmse")


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.is_complex() or x.ndim not in (2, 3):
        raise ValueError(f"{name}: expected a real magnitude image [H, W] or [B, H, W], found "
                         f"{x.dtype} of shape {tuple(x.shape)}; hint: take .abs() first")
    return (x if x.ndim == 3 else x.unsqueeze(0)).to(torch.float32)


def _maxval(maxval: float | torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
    if maxval is None:
        return target.amax(dim=(-2, -1))
    return torch.as_tensor(maxval, dtype=torch.float32, device=target.device).reshape(-1)


def ssim(target: torch.Tensor, prediction: torch.Tensor,
         maxval: float | torch.Tensor | None = None, win_size: int = 7, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Structural similarity of each slice (differentiable; matches skimage's defaults).

    Args:
        target: Magnitude images, float [B, H, W] or [H, W].
        prediction: Same shape as ``target``.
        maxval: Data range: a number, a per-slice tensor [B], or None for each slice's max.
        win_size: Side of the uniform window (odd, at most H and W).
        k1: Luminance constant.
        k2: Contrast constant.

    Returns:
        SSIM per slice, float32 [B].
    """
    t, p = _as_batch(target, "ssim target"), _as_batch(prediction, "ssim prediction")
    if t.shape != p.shape or min(t.shape[-2:]) < win_size:
        raise ValueError(f"ssim: expected equal shapes of at least {win_size}x{win_size}, found "
                         f"{tuple(t.shape)} and {tuple(p.shape)}")
    data_range = _maxval(maxval, t).view(-1, 1, 1, 1)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    kernel = torch.full((1, 1, win_size, win_size), 1.0 / win_size**2, device=t.device)
    x, y = t.unsqueeze(1), p.unsqueeze(1)
    stats = F.conv2d(torch.cat([x, y, x * x, y * y, x * y]).flatten(0, 1).unsqueeze(1), kernel)
    ux, uy, uxx, uyy, uxy = stats.view(5, t.shape[0], 1, *stats.shape[-2:])
    cov_norm = win_size**2 / (win_size**2 - 1)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(-3, -2, -1))


def psnr(target: torch.Tensor, prediction: torch.Tensor,
         maxval: float | torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio of each slice, ``10 log10(maxval^2 / MSE)`` in dB.

    Args:
        target: Magnitude images, float [B, H, W] or [H, W].
        prediction: Same shape as ``target``.
        maxval: A number, a per-slice tensor [B], or None for each slice's max.

    Returns:
        PSNR per slice, float32 [B].
    """
    t, p = _as_batch(target, "psnr target"), _as_batch(prediction, "psnr prediction")
    mse = (t - p).square().mean(dim=(-2, -1))
    return 10 * torch.log10(_maxval(maxval, t) ** 2 / mse)


def nmse(target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Normalised mean squared error of each slice, ``||t - p||^2 / ||t||^2``.

    Args:
        target: Magnitude images, float [B, H, W] or [H, W].
        prediction: Same shape as ``target``.

    Returns:
        NMSE per slice, float32 [B].
    """
    t, p = _as_batch(target, "nmse target"), _as_batch(prediction, "nmse prediction")
    return (t - p).square().sum(dim=(-2, -1)) / t.square().sum(dim=(-2, -1))


def volume_metrics(target: torch.Tensor, prediction: torch.Tensor) -> dict[str, float]:
    """Per-volume metrics (fastMRI convention: ``maxval`` = the target volume maximum).

    Args:
        target: Magnitude volume, float [slices, H, W].
        prediction: Same shape.

    Returns:
        ``{"ssim": ..., "psnr": ..., "nmse": ...}`` as floats.
    """
    t, p = _as_batch(target, "target volume"), _as_batch(prediction, "prediction volume")
    maxval = float(t.max())
    mse = float((t - p).square().mean())
    return {
        "ssim": float(ssim(t, p, maxval).mean()),
        "psnr": 10 * math.log10(maxval**2 / mse) if mse > 0 else math.inf,
        "nmse": float((t - p).square().sum() / t.square().sum()),
    }


class VolumeMetrics:
    """Collect slices by file name across batches, then compute per-volume metrics.

    Example:
        >>> acc = VolumeMetrics()
        >>> acc.update(["a.h5"], [0], torch.ones(1, 8, 8), torch.ones(1, 8, 8))
        >>> acc.compute()["a.h5"]["nmse"]
        0.0
    """

    def __init__(self) -> None:
        self._slices: dict[str, dict[int, tuple[torch.Tensor, torch.Tensor]]] = defaultdict(dict)

    def update(self, fnames: Iterable[str], slice_indices: Iterable[int], target: torch.Tensor,
               prediction: torch.Tensor) -> None:
        """Store a batch: names and slice numbers per item, magnitudes float [B, H, W]."""
        for i, (name, idx) in enumerate(zip(fnames, slice_indices, strict=True)):
            self._slices[str(name)][int(idx)] = (target[i].detach().float().cpu(),
                                                 prediction[i].detach().float().cpu())

    def volumes(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Stacked ``(target, prediction)`` volumes [slices, H, W] per file, slices in order."""
        out = {}
        for name, slices in self._slices.items():
            order = sorted(slices)
            out[name] = (torch.stack([slices[i][0] for i in order]),
                         torch.stack([slices[i][1] for i in order]))
        return out

    def compute(self) -> dict[str, dict[str, float]]:
        """Per-volume metrics ``{fname: {"ssim", "psnr", "nmse"}}``."""
        return {name: volume_metrics(t, p) for name, (t, p) in self.volumes().items()}

    def reset(self) -> None:
        """Forget all stored slices."""
        self._slices.clear()

    def __len__(self) -> int:
        return len(self._slices)
