"""Multi-echo gradient-echo (GRE) signal models, their Jacobians and unit conventions.

Units, chosen once and used everywhere in atommic-qi:

* echo times ``TEs`` in **milliseconds** (config, HDF5 attribute ``TEs``), converted to seconds
  inside the models;
* ``R2star`` in **1/s**, ``S0`` in image units (the units of the coil-combined echo images),
  ``B0`` (off-resonance) in **Hz**, ``phi`` (phase at TE = 0) in **radians**.

Two signal models, selected by name (``model.signal_model``):

* ``gre`` (default): ``S(TE) = S0 exp(-R2* TE) exp(i (phi + 2 pi B0 TE))``.
* ``atommic_megre``: ATOMMIC's ``MEGRE`` form ``(S0 + i phi) exp(-R2* TE) exp(-i B0 TE)``, TE in
  seconds (ATOMMIC scales ms by 1e-3), so ``B0`` is in **rad/s** with the opposite sign and
  ``S0``/``phi`` are the real/imaginary parts of the complex amplitude (``phi`` is not a phase).
  Use it to reproduce an ATOMMIC-trained setting; :meth:`SignalModel.from_gre` and
  :meth:`SignalModel.to_gre` convert maps between the two.

Maps are stacked ``[B, 4, H, W]`` float in the order :data:`MAP_NAMES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["MAP_NAMES", "SIGNAL_MODELS", "SignalModel", "echo_times_seconds",
           "get_signal_model"]

MAP_NAMES = ("R2star", "S0", "B0", "phi")
TWO_PI = 2 * math.pi


def echo_times_seconds(tes_ms: torch.Tensor | list[float], batch: int | None = None,
                       dtype: torch.dtype | None = None) -> torch.Tensor:
    """Echo times in seconds, shaped ``[B, E, 1, 1]`` for broadcasting against ``[B, E, H, W]``.

    Args:
        tes_ms: Echo times in ms, ``[E]`` (shared) or ``[B, E]`` (per item).
        batch: Batch size to expand a shared ``[E]`` to (None keeps a batch dim of 1).
        dtype: Float dtype of the result (None: the input's, float32 for lists).

    Returns:
        Float tensor ``[B or 1, E, 1, 1]`` in seconds.
    """
    tes = torch.as_tensor(tes_ms, dtype=dtype)
    if not tes.is_floating_point():
        tes = tes.float()
    if tes.ndim not in (1, 2) or tes.shape[-1] < 1:
        raise ValueError(f"echo times: expected TEs [E] or [B, E] in ms; found shape "
                         f"{tuple(tes.shape)}")
    if not bool(torch.all(tes > 0)):
        raise ValueError(f"echo times: expected positive TEs in ms; found {tes.tolist()}")
    tes = tes if tes.ndim == 2 else tes.unsqueeze(0)
    if batch is not None and tes.shape[0] == 1:
        tes = tes.expand(batch, -1)
    return (tes * 1e-3)[..., None, None]


def _check_maps(maps: torch.Tensor) -> None:
    if maps.is_complex() or maps.ndim != 4 or maps.shape[1] != len(MAP_NAMES):
        raise ValueError(f"signal model: expected real maps [B, 4, H, W] ({', '.join(MAP_NAMES)});"
                         f" found {maps.dtype} of shape {tuple(maps.shape)}")


def _cexp(log_magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``exp(log_magnitude + i phase)`` built from real parts (autograd-friendly)."""
    magnitude = torch.exp(log_magnitude)
    return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))


def _gre(maps: torch.Tensor, te: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal ``S0 e^{-R2* t} e^{i(phi + 2 pi B0 t)}`` and ``e^{-R2* t} e^{i(...)}``."""
    r2, s0, b0, phi = (m.unsqueeze(1) for m in maps.unbind(1))
    unit = _cexp(-r2 * te, phi + TWO_PI * b0 * te)
    return s0 * unit, unit


def _gre_signal(maps: torch.Tensor, te: torch.Tensor) -> torch.Tensor:
    return _gre(maps, te)[0]


def _gre_jacobian(maps: torch.Tensor, te: torch.Tensor) -> torch.Tensor:
    signal, unit = _gre(maps, te)
    return torch.stack([-te * signal, unit, 1j * TWO_PI * te * signal, 1j * signal], dim=1)


def _megre(maps: torch.Tensor, te: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signal ``(S0 + i phi) e^{-R2* t} e^{-i B0 t}`` and ``e^{-R2* t} e^{-i B0 t}``."""
    r2, s0, b0, phi = (m.unsqueeze(1) for m in maps.unbind(1))
    unit = _cexp(-r2 * te, -b0 * te)
    return torch.complex(s0, phi) * unit, unit


def _megre_signal(maps: torch.Tensor, te: torch.Tensor) -> torch.Tensor:
    return _megre(maps, te)[0]


def _megre_jacobian(maps: torch.Tensor, te: torch.Tensor) -> torch.Tensor:
    signal, unit = _megre(maps, te)
    return torch.stack([-te * signal, unit, -1j * te * signal, 1j * unit], dim=1)


def _identity(maps: torch.Tensor) -> torch.Tensor:
    return maps


def _gre_to_megre(maps: torch.Tensor) -> torch.Tensor:
    r2, s0, b0, phi = maps.unbind(1)
    return torch.stack([r2, s0 * torch.cos(phi), -TWO_PI * b0, s0 * torch.sin(phi)], dim=1)


def _megre_to_gre(maps: torch.Tensor) -> torch.Tensor:
    r2, re, b0, im = maps.unbind(1)
    amplitude = torch.complex(re, im)
    return torch.stack([r2, amplitude.abs(), -b0 / TWO_PI, amplitude.angle()], dim=1)


@dataclass(frozen=True)
class SignalModel:
    """A multi-echo signal model: signal, Jacobian and conversions from/to the ``gre`` maps.

    Attributes:
        name: Config value (``model.signal_model``).
        description: The formula, for docs and tables.
        units: Unit of each map, in :data:`MAP_NAMES` order.
        amplitude_maps: Indices of maps proportional to the image intensity (they scale with
            the data normalisation).
        phase_maps: Indices of maps that are angles in radians (errors are wrapped).
        scales: Typical magnitude of each map (brain, 3 T, data normalised to max 1): the
            networks work on maps divided by these, and losses compare such scaled maps.
        signal_fn: ``(maps [B, 4, H, W], te [B, E, 1, 1] in s) -> complex [B, E, H, W]``.
        jacobian_fn: Same inputs -> ``dS/dmap`` complex ``[B, 4, E, H, W]``.
        from_gre: ``gre`` maps -> this model's maps.
        to_gre: This model's maps -> ``gre`` maps.
    """

    name: str
    description: str
    units: tuple[str, str, str, str]
    amplitude_maps: tuple[int, ...]
    phase_maps: tuple[int, ...]
    scales: tuple[float, float, float, float]
    signal_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    jacobian_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    from_gre: Callable[[torch.Tensor], torch.Tensor]
    to_gre: Callable[[torch.Tensor], torch.Tensor]

    def signal(self, maps: torch.Tensor, tes_ms: torch.Tensor | list[float]) -> torch.Tensor:
        """Echo images of the maps.

        Args:
            maps: Real maps ``[B, 4, H, W]`` in this model's units.
            tes_ms: Echo times in ms, ``[E]`` or ``[B, E]``.

        Returns:
            Complex echo images ``[B, E, H, W]`` (complex64 for float32 maps).
        """
        _check_maps(maps)
        te = echo_times_seconds(tes_ms, maps.shape[0], maps.dtype).to(maps.device)
        return self.signal_fn(maps, te)

    def jacobian(self, maps: torch.Tensor, tes_ms: torch.Tensor | list[float]) -> torch.Tensor:
        """Derivatives of every echo with respect to every map.

        Args:
            maps: Real maps ``[B, 4, H, W]``.
            tes_ms: Echo times in ms, ``[E]`` or ``[B, E]``.

        Returns:
            Complex ``dS_e / dmap_k`` of shape ``[B, 4, E, H, W]``.
        """
        _check_maps(maps)
        te = echo_times_seconds(tes_ms, maps.shape[0], maps.dtype).to(maps.device)
        return self.jacobian_fn(maps, te)

    def unit(self, index: int) -> str:
        """The unit of map ``index`` (e.g. ``"1/s"``)."""
        return self.units[index]


SIGNAL_MODELS: dict[str, SignalModel] = {
    "gre": SignalModel(
        "gre", "S0 exp(-R2* TE) exp(i (phi + 2 pi B0 TE)), TE in s",
        ("1/s", "a.u.", "Hz", "rad"), (1,), (3,), (50.0, 1.0, 50.0, math.pi),
        _gre_signal, _gre_jacobian, _identity, _identity),
    "atommic_megre": SignalModel(
        "atommic_megre", "(S0 + i phi) exp(-R2* TE) exp(-i B0 TE), TE in s (ATOMMIC MEGRE)",
        ("1/s", "a.u.", "rad/s", "a.u."), (1, 3), (), (50.0, 1.0, 300.0, 1.0),
        _megre_signal, _megre_jacobian, _gre_to_megre, _megre_to_gre),
}


def get_signal_model(name: str | SignalModel | None) -> SignalModel:
    """Look a signal model up by name (None: ``gre``).

    Raises:
        ValueError: For an unknown name (the message lists the known ones).
    """
    if isinstance(name, SignalModel):
        return name
    key = "gre" if name is None else str(name).lower()
    if key not in SIGNAL_MODELS:
        raise ValueError(f"signal_model: expected one of {', '.join(SIGNAL_MODELS)}; "
                         f"found {name!r}")
    return SIGNAL_MODELS[key]
