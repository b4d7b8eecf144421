"""Multi-echo sample transforms; they join REC's transform registry under ``qi_*`` names.

REC's ``mask``, ``target`` and ``initial_image`` work on multi-echo samples as they are (the
echo dim is one more leading dim; one mask for all echoes). The transforms here add what
multi-echo data need: crop of the brain mask and target maps, coil maps from one echo, target
maps and a brain mask when the file has none, normalisation of the amplitude maps, and the
final sample dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from atommic_qi.fitting import fit_maps
from atommic_qi.physics.signal import get_signal_model
from atommic_rec.physics import ifft2, sense_reduce
from atommic_rec.transforms import (
    Crop,
    EstimateSensitivityMaps,
    Normalize,
    center_crop_or_pad,
    register_transform,
)
from atommic_rec.transforms._fft_opts import FFTOptions

__all__ = ["QI_SAMPLE_KEYS", "EchoAnatomyMask", "EchoCrop", "EchoNormalize",
           "EchoSensitivityMaps", "QIFinalize", "TargetMaps"]


class EchoCrop(Crop):
    """REC's ``crop`` that also crops ``anatomy_mask`` and ``qmaps_target`` (YAML ``qi_crop``).

    Args:
        size: Output ``[H, W]``.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    label = "qi_crop"

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Crop k-space (image domain), coil maps, echo targets, brain mask and target maps."""
        out = super().__call__(sample)
        for key in ("anatomy_mask", "qmaps_target"):
            if out.get(key) is not None:
                out[key] = center_crop_or_pad(out[key], self.size)
        return out


class EchoSensitivityMaps(EstimateSensitivityMaps):
    """REC's ``sensitivity_maps`` estimated from one echo (YAML ``qi_sensitivity_maps``).

    Maps already in the sample (from the file) are kept unless ``overwrite``; estimated maps
    are ``[C, H, W]``, shared by all echoes.

    Args:
        method: ``"lowres"`` or ``"espirit"``.
        echo: The echo to estimate from (0: the first, highest-SNR echo).
        num_low_frequencies: ACS lines or box; None detects it from the mask.
        overwrite: Estimate even when the sample has maps.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    def __init__(self, method: str = "lowres", *, echo: int = 0,
                 num_low_frequencies: int | Sequence[int] | None = None,
                 overwrite: bool = False, fft_centered: bool = True,
                 fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        super().__init__(method, num_low_frequencies=num_low_frequencies, overwrite=overwrite,
                         fft_centered=fft_centered, fft_normalization=fft_normalization,
                         spatial_dims=spatial_dims)
        self.echo = int(echo)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Set ``sensitivity_maps`` (complex64 ``[C, H, W]``) when missing or overwriting."""
        if sample.get("sensitivity_maps") is not None and not self.overwrite:
            return sample
        view = {"kspace": sample["kspace"][self.echo]}
        if sample.get("masked_kspace") is not None:
            view["masked_kspace"] = sample["masked_kspace"][self.echo]
        if sample.get("mask") is not None:
            view["mask"] = sample["mask"][0]
        return {**sample, "sensitivity_maps": super().__call__(view)["sensitivity_maps"]}


def _echo_images(sample: dict[str, Any], fft: FFTOptions) -> torch.Tensor:
    """Fully sampled SENSE echo images ``[E, H, W]`` of ``kspace``."""
    return sense_reduce(ifft2(sample["kspace"], **fft.kwargs()), sample["sensitivity_maps"])


class TargetMaps:
    """Fit ``qmaps_target`` ``[4, H, W]`` to the fully sampled echoes when the file has none.

    YAML ``{name: qi_target_maps}``. The fit is :func:`~atommic_qi.fitting.fit_maps` without
    smoothing, in the model's signal model and clipped to ``map_ranges``.

    Args:
        signal_model: ``gre`` or ``atommic_megre``.
        map_ranges: ``{map: [low, high]}`` clipping ranges (see
            :func:`~atommic_qi.fitting.parse_ranges`).
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    def __init__(self, signal_model: str = "gre", *,
                 map_ranges: Mapping[str, Sequence[float | None]] | None = None,
                 fft_centered: bool = True, fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        self.signal_model = get_signal_model(signal_model)
        self.map_ranges = dict(map_ranges or {})
        self.fft = FFTOptions(fft_centered, fft_normalization, spatial_dims)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Set ``qmaps_target`` (float32 ``[4, H, W]``) if missing; needs coil maps."""
        if sample.get("qmaps_target") is not None:
            return sample
        echoes = _echo_images(sample, self.fft)
        maps = fit_maps(echoes[None], sample["TEs"], ranges=self.map_ranges,
                        signal_model=self.signal_model)[0]
        return {**sample, "qmaps_target": maps}

    def __repr__(self) -> str:
        return f"TargetMaps(signal_model={self.signal_model.name!r})"


class EchoAnatomyMask:
    """A brain mask when the file has none (YAML ``{name: qi_anatomy_mask, threshold: 0.1}``).

    The fully sampled first-echo SENSE magnitude above ``threshold`` times its maximum, with
    holes filled: a signal mask, a stand-in for a real brain segmentation.

    Args:
        threshold: Fraction of the slice maximum.
        fft_centered: FFT convention of the data.
        fft_normalization: FFT normalisation of the data.
        spatial_dims: FFT dims.
    """

    def __init__(self, threshold: float = 0.1, *, fft_centered: bool = True,
                 fft_normalization: str = "ortho",
                 spatial_dims: Sequence[int] = (-2, -1)) -> None:
        if not 0 <= threshold < 1:
            raise ValueError(f"qi_anatomy_mask: expected 0 <= threshold < 1; found {threshold}")
        self.threshold = float(threshold)
        self.fft = FFTOptions(fft_centered, fft_normalization, spatial_dims)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Set ``anatomy_mask`` (float32 ``[H, W]``) if missing; needs coil maps."""
        if sample.get("anatomy_mask") is not None:
            return sample
        first = _echo_images({**sample, "kspace": sample["kspace"][:1]}, self.fft)[0].abs()
        mask = ndimage.binary_fill_holes((first > self.threshold * first.max()).numpy())
        return {**sample, "anatomy_mask": torch.from_numpy(mask.astype(np.float32))}

    def __repr__(self) -> str:
        return f"EchoAnatomyMask(threshold={self.threshold})"


class EchoNormalize(Normalize):
    """REC's ``normalize`` that also scales the amplitude maps of ``qmaps_target``.

    YAML ``{name: qi_normalize, method: max}``. The factor comes from the zero-filled echoes
    (all echoes together); S0 (and ``atommic_megre``'s phi) divide by it, R2*/B0/phi do not.

    Args:
        method: ``"max"``, ``"minmax"``, ``"mean_std"`` or ``"none"``.
        signal_model: The model whose amplitude maps scale with the data.
        keys: Sample keys REC's normalize scales.
        fft_centered: FFT convention (used only without ``initial_image``).
        fft_normalization: FFT normalisation (idem).
    """

    def __init__(self, method: str = "max", *, signal_model: str = "gre",
                 keys: Sequence[str] = ("masked_kspace", "initial_image", "target"),
                 fft_centered: bool = True, fft_normalization: str = "ortho") -> None:
        super().__init__(method, keys=keys, fft_centered=fft_centered,
                         fft_normalization=fft_normalization)
        self.signal_model = get_signal_model(signal_model)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Scale the data, ``max_value`` and amplitude maps; update ``scale``."""
        out = super().__call__(sample)
        factor = out["scale"] / float(sample.get("scale", 1.0))
        if out.get("qmaps_target") is not None and self.signal_model.amplitude_maps:
            maps = out["qmaps_target"].clone()
            maps[list(self.signal_model.amplitude_maps)] /= factor
            out["qmaps_target"] = maps
        return out


# key -> (dtype or python type, transform that produces it)
QI_SAMPLE_KEYS: dict[str, tuple[Any, str]] = {
    "masked_kspace": (torch.complex64, "mask"),
    "sensitivity_maps": (torch.complex64, "qi_sensitivity_maps"),
    "mask": (torch.float32, "mask"),
    "initial_image": (torch.complex64, "initial_image"),
    "target": (torch.float32, "target"),
    "qmaps_target": (torch.float32, "qi_target_maps"),
    "anatomy_mask": (torch.float32, "qi_anatomy_mask"),
    "TEs": (torch.float32, "the dataset"),
    "scale": (float, "qi_normalize"),
    "acceleration": (float, "mask"),
    "fname": (str, "the dataset"),
    "slice_idx": (int, "the dataset"),
}


class QIFinalize:
    """Return exactly the QI sample dict with fixed dtypes (YAML ``{name: qi_finalize}``).

    Keys: ``masked_kspace`` complex64 ``[E, C, H, W]``, ``sensitivity_maps`` complex64
    ``[C, H, W]``, ``mask`` float32 broadcastable to ``[E, C, H, W]``, ``initial_image``
    complex64 ``[E, H, W]`` (zero-filled echoes), ``target`` float32 ``[E, H, W]`` (fully
    sampled echo magnitudes), ``qmaps_target`` float32 ``[4, H, W]``, ``anatomy_mask`` float32
    ``[H, W]``, ``TEs`` float32 ``[E]`` (ms), ``scale``/``acceleration`` floats, ``fname``,
    ``slice_idx``.

    Args:
        keep_kspace: Also keep the fully sampled ``kspace`` (complex64 ``[E, C, H, W]``).
    """

    def __init__(self, keep_kspace: bool = False) -> None:
        self.keep_kspace = bool(keep_kspace)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Check and convert ``sample``; a missing key names the transform to add."""
        sample = {"scale": 1.0, **sample}
        out: dict[str, Any] = {}
        for key, (kind, producer) in QI_SAMPLE_KEYS.items():
            value = sample.get(key)
            if value is None or (kind is float and math.isnan(float(value))):
                raise ValueError(f"sample of {sample.get('fname')!r}: expected key {key!r}; "
                                 f"found keys {sorted(sample)}; add {producer!r} to transforms")
            out[key] = value.to(kind).contiguous() if isinstance(kind, torch.dtype) else kind(value)
        if self.keep_kspace:
            out["kspace"] = sample["kspace"].to(torch.complex64)
        return out

    def __repr__(self) -> str:
        return f"QIFinalize(keep_kspace={self.keep_kspace})"


for _name, _cls in (("qi_crop", EchoCrop), ("qi_sensitivity_maps", EchoSensitivityMaps),
                    ("qi_target_maps", TargetMaps), ("qi_anatomy_mask", EchoAnatomyMask),
                    ("qi_normalize", EchoNormalize), ("qi_finalize", QIFinalize)):
    register_transform(_name, _cls)
