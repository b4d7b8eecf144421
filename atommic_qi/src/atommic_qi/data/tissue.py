"""Tissue fractions (GM, WM, CSF) for the demo data and the maps they give at 3 T.

Sources: the ICBM152 2009a GM and WM probability maps in the nilearn wheel (found next to the
T1 template REC's demo uses; CSF is the rest of the brain envelope of the T1 template), or a
pure-numpy ellipse phantom with the same three tissues when nilearn is absent.

Literature values at 3 T (Peters et al., MRI 25:748, 2007; Wansapura et al., JMRI 9:531,
1999; proton density after Tofts, "Quantitative MRI of the Brain", 2003): R2* WM ~ 21 1/s,
GM ~ 17 1/s, CSF ~ 3 1/s; proton density WM 0.69, GM 0.80, CSF 1.0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from atommic_rec.data.anatomy import find_icbm152_template, template_slices

__all__ = ["TISSUES", "TISSUE_VALUES", "find_tissue_templates", "phantom_tissues",
           "template_tissues", "tissue_maps"]

TISSUES = ("GM", "WM", "CSF")
# (R2* in 1/s, proton density) per tissue
TISSUE_VALUES = {"GM": (17.0, 0.80), "WM": (21.0, 0.69), "CSF": (3.0, 1.0)}
_NAMES = {"GM": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
          "WM": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"}


def find_tissue_templates() -> dict[str, Path] | None:
    """Paths of the T1, GM and WM templates in the nilearn wheel, or None if any is missing."""
    t1 = find_icbm152_template()
    if t1 is None:
        return None
    paths = {"T1": t1, **{k: t1.parent / name for k, name in _NAMES.items()}}
    return paths if all(p.is_file() for p in paths.values()) else None


def template_tissues(volumes: dict[str, np.ndarray], size: int, centers: np.ndarray,
                     angle: float, shift: tuple[float, float]) -> np.ndarray:
    """GM/WM/CSF fractions of axial template slices.

    Args:
        volumes: ``{"T1", "GM", "WM"}`` template volumes ``[X, Y, Z]``.
        size: Output side in pixels.
        centers: z voxel positions of the slices.
        angle: In-plane rotation in radians.
        shift: In-plane translation as a fraction of the field of view.

    Returns:
        Float32 ``[slices, 3, size, size]`` fractions in [0, 1] summing to at most 1.
    """
    t1, gm, wm = (template_slices(volumes[k], size, centers, angle, shift)
                  for k in ("T1", "GM", "WM"))
    envelope = np.stack([ndimage.binary_fill_holes(s > 0.15) for s in t1]).astype(np.float32)
    envelope = np.stack([ndimage.gaussian_filter(e, 0.7) for e in envelope])
    tissue = np.clip(gm + wm, 0, 1)
    csf = np.clip(envelope - tissue, 0, 1)
    scale = np.maximum(tissue + csf, 1.0)
    return np.stack([gm / scale, wm / scale, csf / scale], axis=1).astype(np.float32)


def _ellipse(x: np.ndarray, y: np.ndarray, a: float, b: float, x0: float = 0.0,
             y0: float = 0.0) -> np.ndarray:
    return (((x - x0) / a) ** 2 + ((y - y0) / b) ** 2 <= 1).astype(np.float32)


def phantom_tissues(size: int, positions: np.ndarray, angle: float,
                    shift: tuple[float, float]) -> np.ndarray:
    """GM/WM/CSF fractions of an ellipse phantom (cortex ring, white matter, ventricles).

    Args:
        size: Output side in pixels.
        positions: Slice positions in (-1, 1); the head narrows away from 0.
        angle: In-plane rotation in radians.
        shift: In-plane translation as a fraction of the field of view.

    Returns:
        Float32 ``[slices, 3, size, size]`` fractions.
    """
    y, x = np.meshgrid(np.linspace(1, -1, size), np.linspace(-1, 1, size), indexing="ij")
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = cos * x + sin * y - 2 * shift[1], -sin * x + cos * y + 2 * shift[0]
    out = np.zeros((len(positions), 3, size, size), dtype=np.float32)
    for i, z in enumerate(positions):
        s = np.sqrt(max(1 - (z / 0.95) ** 2, 0.05))
        brain = _ellipse(x, y, 0.70 * s, 0.88 * s)
        inner = _ellipse(x, y, 0.60 * s, 0.77 * s)
        ventricles = np.maximum(_ellipse(x, y, 0.08, 0.25 * s, -0.12, 0.05),
                                _ellipse(x, y, 0.08, 0.25 * s, 0.12, 0.05))
        sulci = brain * (np.sin(14 * np.arctan2(y, x)) > 0.75) * (1 - inner)
        gm = brain - inner - sulci + inner * _ellipse(x, y, 0.12, 0.12, 0.0, -0.45)
        csf = np.maximum(sulci, ventricles * inner)
        wm = np.clip(inner - gm - csf, 0, 1)
        out[i] = np.stack([np.clip(gm, 0, 1), wm, csf])
    return np.stack([[ndimage.gaussian_filter(t, 0.6) for t in s] for s in out]).astype(
        np.float32)


def tissue_maps(fractions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """R2* (1/s) and S0 (proton density, a.u.) of tissue fractions, with subject variation.

    Each volume scales the tissue values by its own factor (+-5%) and adds a smooth spatial
    variation (+-8%, e.g. iron content), so the maps are not piecewise constant.

    Args:
        fractions: ``[slices, 3, H, W]`` GM/WM/CSF fractions.
        rng: Generator for the variations.

    Returns:
        ``(r2star, s0)``, each float32 ``[slices, H, W]`` (zero where there is no tissue).
    """
    total = fractions.sum(1)
    weights = fractions / np.maximum(total, 1e-6)[:, None]
    r2 = np.zeros_like(total)
    pd = np.zeros_like(total)
    for k, name in enumerate(TISSUES):
        r2_value, pd_value = TISSUE_VALUES[name]
        factor = rng.uniform(0.95, 1.05)
        r2 += weights[:, k] * r2_value * factor
        pd += fractions[:, k] * pd_value
    smooth = ndimage.gaussian_filter(rng.standard_normal(total.shape), (0, 8, 8))
    smooth = smooth / max(float(np.abs(smooth).max()), 1e-6)
    r2 = r2 * (1 + 0.08 * smooth) * (total > 0.05)
    return r2.astype(np.float32), pd.astype(np.float32)
