"""Closed-form fit of R2*, S0, B0 and phi from multi-echo complex images (the qZF maps).

Per pixel, with echo times ``t_e`` in seconds and weights ``w_e = |x_e|^2`` (the inverse
variance of ``log |x_e|`` under Gaussian noise):

* R2* and S0: weighted linear least squares on ``log |x_e| = log S0 - R2* t_e``;
* B0: the phase differences of adjacent echoes ``angle(x_{e+1} conj(x_e))`` are summed into an
  unwrapped phase curve whose weighted least-squares slope is ``2 pi B0``. The absolute phases
  may wrap any number of times; only ``|B0| < 1 / (2 max(dTE))`` is required (58.8 Hz for
  AHEAD's TEs 3.0, 11.5, 20.0, 28.5 ms);
* phi: the phase of the first echo with ``2 pi B0 t_0`` removed, wrapped to (-pi, pi].

Noiseless data of the ``gre`` model are recovered exactly (up to rounding: the fit runs in
float64). An optional Gaussian filter smooths the complex echo images first; the results are
converted to the chosen signal model, clipped to configured ranges and zeroed outside a mask.
The fit is differentiable (a reconstruction module can be trained through it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from atommic_qi.physics.signal import MAP_NAMES, SignalModel, echo_times_seconds, get_signal_model

__all__ = ["DEFAULT_RANGES", "clip_maps", "fit_maps", "gaussian_smooth", "parse_ranges",
           "range_tensors"]

# Physical ranges of the gre maps at 3 T / 7 T (1/s, a.u., Hz, rad); None = unbounded.
DEFAULT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "R2star": (0.0, 500.0), "S0": (0.0, None), "B0": (-500.0, 500.0),
    "phi": (-math.pi, math.pi)}


def gaussian_smooth(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian filter over the last two dims (reflect padding), real or complex input.

    Args:
        images: Tensor ``[..., H, W]``.
        sigma: Standard deviation in pixels (0 returns ``images``).

    Returns:
        The filtered tensor, same shape and dtype.
    """
    if sigma <= 0:
        return images
    radius = max(math.ceil(3 * sigma), 1)
    x = torch.arange(-radius, radius + 1, dtype=images.real.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    parts = torch.view_as_real(images).movedim(-1, 0) if images.is_complex() else images[None]
    flat = parts.reshape(-1, 1, *images.shape[-2:])
    flat = F.pad(flat, [radius] * 4, mode="reflect" if min(images.shape[-2:]) > radius
                 else "replicate")
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
    out = flat.reshape(parts.shape)
    return torch.complex(out[0], out[1]) if images.is_complex() else out[0]


def parse_ranges(ranges: Mapping[str, Sequence[float | None]] | None,
                 signal_model: str | SignalModel = "gre"
                 ) -> dict[str, tuple[float | None, float | None]]:
    """Check a ``{map: [low, high]}`` config; ``gre`` defaults fill missing maps.

    Args:
        ranges: Bounds per map name in the signal model's units (None = unbounded), or None.
        signal_model: The model whose units the bounds are in; the ``gre`` defaults apply to
            ``gre``; other models keep only the R2* bounds (the same unit in every model).

    Returns:
        Bounds for every map in :data:`MAP_NAMES`.
    """
    model = get_signal_model(signal_model)
    out = dict(DEFAULT_RANGES) if model.name == "gre" else \
        {**dict.fromkeys(MAP_NAMES, (None, None)), "R2star": DEFAULT_RANGES["R2star"]}
    for name, bounds in (ranges or {}).items():
        if name not in MAP_NAMES:
            raise ValueError(f"map_ranges: unknown map {name!r}; expected keys from "
                             f"{', '.join(MAP_NAMES)}")
        if bounds is None:
            out[name] = (None, None)
            continue
        low, high = (None if b is None else float(b) for b in bounds)
        if low is not None and high is not None and low > high:
            raise ValueError(f"map_ranges.{name}: expected [low, high] with low <= high; "
                             f"found {[low, high]}")
        out[name] = (low, high)
    return out


def range_tensors(ranges: Mapping[str, tuple[float | None, float | None]],
                  scales: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds ``[1, 4, 1, 1]`` (+-inf where unbounded), divided by ``scales``.

    Args:
        ranges: ``{map: (low, high)}`` as :func:`parse_ranges` returns.
        scales: Optional positive per-map scales (bounds of maps divided by them).

    Returns:
        ``(low, high)`` float32 tensors.
    """
    bounds = [ranges.get(name, (None, None)) for name in MAP_NAMES]
    low = torch.tensor([-math.inf if b[0] is None else b[0] for b in bounds])
    high = torch.tensor([math.inf if b[1] is None else b[1] for b in bounds])
    if scales is not None:
        scale = torch.tensor([float(s) for s in scales])
        low, high = low / scale, high / scale
    return low.view(1, -1, 1, 1), high.view(1, -1, 1, 1)


def clip_maps(maps: torch.Tensor, ranges: Mapping[str, tuple[float | None, float | None]]
              ) -> torch.Tensor:
    """Clamp each map of ``[B, 4, H, W]`` to its ``(low, high)`` (gradients pass inside)."""
    low, high = range_tensors(ranges)
    return torch.clamp(maps, low.to(maps), high.to(maps))


def _weighted_slope(w: torch.Tensor, t: torch.Tensor, y: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pixel weighted LS line ``y = a + b t`` over dim 1: ``(b, a, valid)``."""
    sw, st, sy = w.sum(1), (w * t).sum(1), (w * y).sum(1)
    stt, sty = (w * t * t).sum(1), (w * t * y).sum(1)
    det = sw * stt - st * st
    valid = det > 1e-12 * sw.clamp_min(1e-300) * stt.clamp_min(1e-300)
    safe = torch.where(valid, det, torch.ones_like(det))
    slope = torch.where(valid, (sw * sty - st * sy) / safe, torch.zeros_like(det))
    intercept = (sy - slope * st) / sw.clamp_min(1e-300)
    return slope, intercept, valid


def fit_maps(echo_images: torch.Tensor, tes_ms: torch.Tensor | Sequence[float],
             mask: torch.Tensor | None = None, *, smoothing_sigma: float = 0.0,
             ranges: Mapping[str, Sequence[float | None]] | None = None,
             signal_model: str | SignalModel = "gre") -> torch.Tensor:
    """Fit the four maps to complex echo images (see the module docstring for the method).

    Args:
        echo_images: Complex ``[B, E, H, W]`` (E >= 2), e.g. zero-filled SENSE echoes.
        tes_ms: Echo times in ms, ``[E]`` or ``[B, E]``.
        mask: Optional ``[B, H, W]`` (or ``[H, W]``) 0/1 mask; maps are zero outside it.
        smoothing_sigma: Gaussian filter of the echo images in pixels (0 = none).
        ranges: ``{map: [low, high]}`` in the signal model's units (see :func:`parse_ranges`).
        signal_model: The parametrisation of the returned maps.

    Returns:
        Real maps ``[B, 4, H, W]`` (float32 for complex64 input) in :data:`MAP_NAMES` order.
    """
    if not echo_images.is_complex() or echo_images.ndim != 4 or echo_images.shape[1] < 2:
        raise ValueError(f"fit_maps: expected complex echo images [B, E, H, W] with E >= 2; "
                         f"found {echo_images.dtype} of shape {tuple(echo_images.shape)}")
    model = get_signal_model(signal_model)
    real_dtype = echo_images.real.dtype
    te = echo_times_seconds(tes_ms, echo_images.shape[0], torch.float64).to(echo_images.device)
    if te.shape[1] != echo_images.shape[1]:
        raise ValueError(f"fit_maps: expected {echo_images.shape[1]} echo times (one per echo);"
                         f" found {te.shape[1]}")
    x = gaussian_smooth(echo_images.to(torch.complex128), smoothing_sigma)
    magnitude = x.abs()
    tiny = 1e-12 * magnitude.detach().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-300)
    x = torch.where(magnitude > tiny, x, tiny.to(x.dtype))  # no angle/log of exact zeros
    magnitude = x.abs()
    weights = magnitude.square()
    slope, intercept, valid = _weighted_slope(weights, te, magnitude.log())
    r2star = -slope
    s0 = torch.where(valid, intercept.exp(), magnitude[:, 0])
    steps = torch.angle(x[:, 1:] * x[:, :-1].conj())
    phase = torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(1)], dim=1)
    b0 = _weighted_slope(weights, te, phase)[0] / (2 * math.pi)
    phi = torch.angle(x[:, 0] * torch.polar(torch.ones_like(b0), -2 * math.pi * b0 * te[:, 0]))
    maps = model.from_gre(torch.stack([r2star, s0, b0, phi], dim=1))
    maps = clip_maps(maps, parse_ranges(ranges, model)).to(real_dtype)
    if mask is not None:
        maps = maps * mask.to(maps.dtype).reshape(-1, 1, *maps.shape[-2:])
    return maps
