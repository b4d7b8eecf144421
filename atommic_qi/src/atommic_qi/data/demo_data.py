"""Simulated multi-echo GRE demo data (train/val/test) from ICBM152 tissue maps.

Each volume is a slab of axial slices with GM/WM/CSF fractions (ICBM152 or a phantom, see
:mod:`atommic_qi.data.tissue`), 3 T R2* and proton density per tissue, a smooth B0 field of
tens of Hz plus local perturbations at the frontal and temporal edges (air-tissue boundaries of
the sinuses and ear canals), a smooth phase phi, AHEAD's echo times (3.0, 11.5, 20.0, 28.5 ms),
REC's loop-coil sensitivities and optional complex Gaussian noise. The echoes follow the
``gre`` model of :mod:`atommic_qi.physics`; the stored ``qmaps`` are the true maps (1/s, a.u.,
Hz, rad; zero outside the brain mask). k-space uses the centered orthonormal FFT.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from atommic_qi.data.tissue import (
    TISSUE_VALUES,
    find_tissue_templates,
    phantom_tissues,
    template_tissues,
    tissue_maps,
)
from atommic_qi.physics.signal import MAP_NAMES, get_signal_model
from atommic_rec.data.demo_data import SPLITS, coil_sensitivities
from atommic_rec.physics import fft2

__all__ = ["AHEAD_TES", "b0_field", "make_qi_demo_data"]

AHEAD_TES = (3.0, 11.5, 20.0, 28.5)  # ms
FOV_MM = 200.0


def b0_field(size: int, brain: np.ndarray, rng: np.random.Generator,
             amplitude: float = 30.0, local: float = 20.0) -> np.ndarray:
    """Off-resonance in Hz: a smooth second-order field plus local air-tissue perturbations.

    Args:
        size: Grid side.
        brain: ``[slices, H, W]`` brain mask (places the local perturbations at its edge).
        rng: Generator for the coefficients and positions.
        amplitude: Scale of the smooth field (Hz).
        local: Peak of each local perturbation (Hz).

    Returns:
        Float32 ``[slices, H, W]``; values stay within +-45 Hz (below the 58.8 Hz that
        adjacent-echo phase differences resolve at AHEAD's echo spacing).
    """
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    slices = brain.shape[0]
    out = np.empty((slices, size, size), dtype=np.float64)
    coef = rng.uniform(-1, 1, size=5) * amplitude / 2
    centers = [(-0.75, rng.uniform(-0.2, 0.2)), (rng.uniform(-0.2, 0.1), -0.62),
               (rng.uniform(-0.2, 0.1), 0.62)]  # frontal sinus, left/right ear canals
    for s in range(slices):
        z = (s - slices / 2) / max(slices, 1)
        field = coef[0] + coef[1] * x + coef[2] * y + coef[3] * (x**2 - y**2) + coef[4] * x * y
        for cy, cx in centers:
            r2 = ((x - cx) ** 2 + (y - cy) ** 2) / 0.03
            field += local * (1 + z) * np.exp(-r2) * rng.choice([-1.0, 1.0])
        out[s] = field
    return np.clip(out, -45.0, 45.0).astype(np.float32)


def _phase(size: int, slices: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    a, b, c = rng.uniform(-0.8, 0.8, size=3)
    phi = c + a * x + b * y
    return np.broadcast_to(np.angle(np.exp(1j * phi)), (slices, size, size)).astype(np.float32)


def _fractions(kind: str, volumes: dict[str, np.ndarray] | None, size: int, slices: int,
               rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-8, 8))
    shift = tuple(rng.uniform(-0.03, 0.03, size=2))
    if kind == "icbm152":
        center = rng.uniform(75, 105)  # axial voxel index within the cerebrum
        return template_tissues(volumes, size, center + 2.0 * (np.arange(slices) - slices / 2),
                                angle, shift)
    center = rng.uniform(-0.25, 0.25)
    return phantom_tissues(size, center + 0.04 * (np.arange(slices) - slices / 2), angle, shift)


def _volume(fractions: np.ndarray, coils: int, noise: float, tes: Sequence[float],
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    slices, size = fractions.shape[0], fractions.shape[-1]
    brain = (fractions.sum(1) > 0.5).astype(np.float32)
    r2, s0 = tissue_maps(fractions, rng)
    maps = np.stack([r2, s0, b0_field(size, brain, rng), _phase(size, slices, rng)], axis=1)
    echoes = get_signal_model("gre").signal(torch.from_numpy(maps), list(tes))
    sens = torch.from_numpy(coil_sensitivities(coils, size, rng))
    kspace = fft2(echoes[:, :, None] * sens)  # [slices, echoes, coils, H, W]
    if noise > 0:
        std = noise * float(echoes[:, 0].abs().max())
        shape = tuple(kspace.shape)
        kspace = kspace + torch.from_numpy(
            (std / np.sqrt(2) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)))
            .astype(np.complex64))
    return {"kspace": kspace.numpy(),
            "sensitivity_map": sens.expand(slices, -1, -1, -1).numpy(),
            "anatomy_mask": brain,
            "qmaps": (maps * brain[:, None]).astype(np.float32)}


def _write_h5(path: Path, data: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        for key, value in data.items():
            f.create_dataset(key, data=value)
        f.attrs.update(attrs)
    os.replace(tmp, path)


def _affine(size: int, slice_mm: float = 2.0) -> np.ndarray:
    """Voxel (slice, row, col) -> RAS mm for the stored array order (rows anterior first)."""
    pixel = FOV_MM / size
    affine = np.zeros((4, 4))
    affine[0, 2] = pixel  # columns: left -> right
    affine[1, 1] = -pixel  # rows: anterior -> posterior
    affine[2, 0] = slice_mm
    affine[:3, 3] = (-FOV_MM / 2, FOV_MM / 2, 0.0)
    affine[3, 3] = 1
    return affine


def _load_templates(source: str) -> tuple[str, dict[str, Path] | None]:
    if source not in ("auto", "icbm152", "phantom"):
        raise ValueError(f"make_qi_demo_data: expected source auto|icbm152|phantom; "
                         f"found {source!r}")
    paths = find_tissue_templates() if source != "phantom" else None
    if source == "icbm152" and paths is None:
        raise FileNotFoundError("make_qi_demo_data: expected the ICBM152 T1/GM/WM templates in "
                                "the nilearn wheel; found them missing; hint: pip install "
                                "--no-deps nilearn, or use source=phantom")
    return ("icbm152" if paths else "phantom"), paths


def make_qi_demo_data(out: str | os.PathLike, *, coils: int = 4, size: int = 96,
                      volumes: Sequence[int] = (4, 2, 2), slices: int = 6,
                      noise: float = 0.01, seed: int = 0, source: str = "auto",
                      tes: Sequence[float] = AHEAD_TES) -> dict[str, Any]:
    """Write ``out/{train,val,test}/*.h5`` (multi-echo layout) and ``out/demo_data.json``.

    Args:
        out: Output folder (created).
        coils: Number of receive coils.
        size: Image side in pixels (field of view 200 mm).
        volumes: Number of volumes in train, val and test.
        slices: Axial slices per volume (2 mm apart).
        noise: Complex k-space noise std relative to the first echo's maximum (0 = none).
        seed: Seed of every random choice; the same seed gives the same files.
        source: ``"icbm152"``, ``"phantom"`` or ``"auto"`` (the templates if found).
        tes: Echo times in ms (AHEAD's by default).

    Returns:
        The record written to ``demo_data.json``.
    """
    if len(volumes) != 3 or min(volumes) < 0 or coils < 1 or size < 16 or slices < 1 or \
            len(tes) < 2 or noise < 0:
        raise ValueError(f"make_qi_demo_data: expected 3 volume counts >= 0, coils >= 1, size "
                         f">= 16, slices >= 1, >= 2 TEs and noise >= 0; found volumes="
                         f"{list(volumes)}, coils={coils}, size={size}, slices={slices}, "
                         f"tes={list(tes)}, noise={noise}")
    kind, paths = _load_templates(source)
    templates = None
    if paths is not None:
        import nibabel

        templates = {k: np.asarray(nibabel.load(p).dataobj, dtype=np.float32)
                     for k, p in paths.items()}
    out = Path(out)
    rng = np.random.default_rng(seed)
    files: dict[str, list[str]] = {}
    units = dict(zip(MAP_NAMES, get_signal_model("gre").units, strict=True))
    for split, count in zip(SPLITS, volumes, strict=True):
        (out / split).mkdir(parents=True, exist_ok=True)
        files[split] = []
        for index in range(count):
            name = f"qi_{split}_{index:03d}.h5"
            data = _volume(_fractions(kind, templates, size, slices, rng), coils, noise, tes, rng)
            _write_h5(out / split / name, data, {
                "TEs": np.asarray(tes, dtype=np.float64), "affine": _affine(size),
                "signal_model": "gre", "units": json.dumps(units),
                "acquisition": "ME-GRE_SIMULATED", "patient_id": f"qi-{split}-{index:03d}",
                "source": kind, "fft_centered": True, "fft_normalization": "ortho"})
            files[split].append(f"{split}/{name}")
    record = {
        "generator": "atommic_qi.data.demo_data.make_qi_demo_data", "source": kind,
        "templates": {k: str(p) for k, p in (paths or {}).items()}, "coils": coils,
        "size": size, "slices": slices, "noise": noise, "seed": seed, "TEs_ms": list(tes),
        "tissue_values_r2star_1_per_s_and_pd": TISSUE_VALUES, "units": units,
        "volumes": dict(zip(SPLITS, (int(v) for v in volumes), strict=True)),
        "layout": "kspace [slices, echoes, coils, H, W] complex64, sensitivity_map [slices, "
                  "coils, H, W], anatomy_mask [slices, H, W], qmaps [slices, 4, H, W] "
                  "(R2star 1/s, S0 a.u., B0 Hz, phi rad); attrs TEs (ms), affine",
        "files": files}
    tmp = out / ".demo_data.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, out / "demo_data.json")
    return record
