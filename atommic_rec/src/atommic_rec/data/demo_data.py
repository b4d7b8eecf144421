"""Simulated fastMRI-format multi-coil demo data (train/val/test) from real anatomy.

Each volume is a slab of axial slices of the ICBM152 T1 template (or a Shepp-Logan-like
phantom when nilearn is absent), with its own slab position, in-plane rotation, shift and
intensity scale, a smooth synthetic phase with an arbitrary global phase (as on a scanner),
smooth Biot-Savart-like coil sensitivities on a ring rotated per volume and complex Gaussian
noise. k-space uses the centered orthonormal FFT. :mod:`atommic_rec.data.heldout_data` makes
a deliberately different held-out set from the same building blocks.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from atommic_rec.data.anatomy import find_icbm152_template, phantom_slices, template_slices
from atommic_rec.physics import fft2, ifft2, rss_complex, sense_reduce

__all__ = ["DEMO_NOISE", "SPLITS", "coil_sensitivities", "load_template", "make_demo_data",
           "resolve_template", "simulate_volume", "smooth_phase", "write_h5"]

SPLITS = ("train", "val", "test")
DEMO_NOISE = 0.01  # k-space noise std / image max: real data are never noiseless


def coil_sensitivities(coils: int, size: int, rng: np.random.Generator, *,
                       radius: Sequence[float] = (1.25, 1.25), loop: float = 0.8,
                       jitter: float = 0.0) -> np.ndarray:
    """Smooth coil maps of loop coils on a ring (or ellipse) around the field of view.

    The magnitude follows the on-axis Biot-Savart field of a circular loop of radius ``a``,
    ``(d^2 + a^2)^(-3/2)`` with ``d`` the distance to the coil; each coil adds a smooth
    linear phase. The ring starts at a random angle. Maps are normalised to unit
    root-sum-of-squares over coils everywhere.

    Args:
        coils: Number of coils.
        size: Side of the square grid.
        rng: Generator for the ring's rotation, the jitter and the phases.
        radius: Semi-axes ``(rx, ry)`` of the ring of coil centres, in half fields of view.
        loop: Loop radius ``a`` (larger: flatter, more overlapping maps).
        jitter: Random angular displacement of each coil, as a fraction of the spacing.

    Returns:
        Complex64 ``[coils, size, size]``.
    """
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    start = rng.uniform(0, 2 * np.pi)
    maps = np.empty((coils, size, size), dtype=np.complex64)
    for c in range(coils):
        theta = start + 2 * np.pi * (c + jitter * rng.uniform(-0.5, 0.5)) / coils
        cx, cy = radius[0] * np.cos(theta), radius[1] * np.sin(theta)
        magnitude = ((x - cx) ** 2 + (y - cy) ** 2 + loop**2) ** -1.5
        phase = rng.uniform(-np.pi, np.pi) + 0.8 * (x * np.cos(theta) + y * np.sin(theta))
        maps[c] = magnitude * np.exp(1j * phase)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(0, keepdims=True))


def smooth_phase(size: int, rng: np.random.Generator, *, curvature: float = 0.6) -> np.ndarray:
    """An arbitrary global phase plus smooth linear and quadratic terms, ``[size, size]``.

    Args:
        size: Side of the square grid.
        rng: Generator of the coefficients.
        curvature: Range of the linear and quadratic coefficients (radians at the edge).

    Returns:
        Float32 phase in radians.
    """
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    a, b, c = rng.uniform(-curvature, curvature, size=3)
    constant = rng.uniform(-np.pi, np.pi)  # scanner images have an arbitrary global phase
    return (constant + a * x + b * y + c * (x**2 + y**2)).astype(np.float32)


def _magnitudes(source: str, template: np.ndarray | None, size: int, slices: int,
                rng: np.random.Generator) -> np.ndarray:
    angle = np.deg2rad(rng.uniform(-8, 8))
    shift = tuple(rng.uniform(-0.03, 0.03, size=2))
    scale = rng.uniform(0.8, 1.2)
    if source == "icbm152":
        center = rng.uniform(70, 110)  # axial voxel index within the cerebrum
        images = template_slices(template, size, center + 2.0 * (np.arange(slices) - slices / 2),
                                 angle, shift)
    else:
        center = rng.uniform(-0.25, 0.25)
        images = phantom_slices(size, center + 0.04 * (np.arange(slices) - slices / 2),
                                angle, shift)
    return scale * images


def simulate_volume(magnitude: np.ndarray, maps: np.ndarray, phase: np.ndarray, noise: float,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """k-space, maps and RSS/SENSE targets of ``magnitude * exp(i phase)`` seen by ``maps``.

    Args:
        magnitude: Float ``[slices, H, W]``.
        maps: Complex ``[coils, H, W]`` with unit RSS.
        phase: Float ``[H, W]`` image phase in radians.
        noise: Complex Gaussian k-space noise std relative to ``magnitude.max()``.
        rng: Generator of the noise.

    Returns:
        ``kspace``, ``sensitivity_map`` (complex64 ``[slices, coils, H, W]``) and
        ``reconstruction_rss``/``reconstruction_sense`` (float32 ``[slices, H, W]``), the
        targets computed from the noisy fully sampled k-space, as on a scanner.
    """
    maps = torch.from_numpy(np.asarray(maps, dtype=np.complex64))
    image = torch.from_numpy(magnitude * np.exp(1j * phase)).to(torch.complex64)
    kspace = fft2(image[:, None] * maps)
    if noise > 0:
        std = noise * float(magnitude.max())
        shape = tuple(kspace.shape)
        kspace = kspace + torch.from_numpy(
            (std / np.sqrt(2) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)))
            .astype(np.complex64))
    coil_images = ifft2(kspace)
    return {
        "kspace": kspace.numpy(),
        "sensitivity_map": maps.expand(kspace.shape[0], -1, -1, -1).numpy(),
        "reconstruction_rss": rss_complex(coil_images, dim=1).numpy(),
        "reconstruction_sense": sense_reduce(coil_images, maps).abs().numpy(),
    }


def resolve_template(source: str, caller: str) -> Path | None:
    """The ICBM152 T1 template's path for ``source``, or None to use the numpy phantom.

    Args:
        source: ``"icbm152"`` (required), ``"phantom"`` or ``"auto"`` (the template if nilearn
            and nibabel are installed).
        caller: Function name for error messages.
    """
    if source not in ("auto", "icbm152", "phantom"):
        raise ValueError(f"{caller}: expected source auto|icbm152|phantom; found {source!r}")
    template_path = find_icbm152_template() if source in ("auto", "icbm152") else None
    if template_path is not None and importlib.util.find_spec("nibabel") is None:
        template_path = None  # the template needs nibabel to be read
    if source == "icbm152" and template_path is None:
        raise FileNotFoundError(f"{caller}: expected the ICBM152 template in the nilearn "
                                "wheel and nibabel to read it; found them missing; hint: "
                                "pip install nibabel && pip install --no-deps nilearn")
    return template_path


def load_template(path: Path) -> np.ndarray:
    """A NIfTI volume as float32 ``[X, Y, Z]`` (needs nibabel)."""
    import nibabel

    return np.asarray(nibabel.load(path).dataobj, dtype=np.float32)


def write_h5(path: Path, data: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Write datasets and attributes to ``path`` through a temporary file (atomic)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        for key, value in data.items():
            f.create_dataset(key, data=value)
        f.attrs.update(attrs)
    os.replace(tmp, path)


def make_demo_data(out: str | os.PathLike, *, coils: int = 8, size: int = 128,
                   volumes: Sequence[int] = (4, 2, 2), slices: int = 8,
                   noise: float = DEMO_NOISE,
                   seed: int = 0, source: str = "auto") -> dict[str, Any]:
    """Write ``out/{train,val,test}/*.h5`` and ``out/demo_data.json``.

    Args:
        out: Output folder (created).
        coils: Number of receive coils.
        size: Image side in pixels (square).
        volumes: Number of volumes in train, val and test.
        slices: Axial slices per volume.
        noise: Complex noise std in k-space, relative to the image maximum (0 = none).
        seed: Seed of every random choice; the same seed gives the same files.
        source: ``"icbm152"`` (template from the nilearn wheel), ``"phantom"`` (pure numpy)
            or ``"auto"`` (the template if found, else the phantom).

    Returns:
        The record written to ``demo_data.json`` (source, parameters, files).
    """
    if len(volumes) != 3 or min(volumes) < 0 or coils < 1 or size < 8 or slices < 1:
        raise ValueError(f"make_demo_data: expected 3 volume counts >= 0, coils >= 1, size >= 8, "
                         f"slices >= 1; found volumes={list(volumes)}, coils={coils}, "
                         f"size={size}, slices={slices}")
    template_path = resolve_template(source, "make_demo_data")
    kind = "icbm152" if template_path is not None else "phantom"
    template = load_template(template_path) if template_path is not None else None
    out = Path(out)
    rng = np.random.default_rng(seed)
    files: dict[str, list[str]] = {}
    for split, count in zip(SPLITS, volumes, strict=True):
        (out / split).mkdir(parents=True, exist_ok=True)
        files[split] = []
        for index in range(count):
            name = f"demo_{split}_{index:03d}.h5"
            magnitude = _magnitudes(kind, template, size, slices, rng)
            maps = coil_sensitivities(coils, size, rng)
            data = simulate_volume(magnitude, maps, smooth_phase(size, rng), noise, rng)
            rss = data["reconstruction_rss"]
            write_h5(out / split / name, data, {
                "max": float(rss.max()), "norm": float(np.linalg.norm(rss)),
                "acquisition": "AXT1_SIMULATED", "patient_id": f"demo-{split}-{index:03d}",
                "source": kind, "fft_centered": True, "fft_normalization": "ortho"})
            files[split].append(f"{split}/{name}")
    record = _record(kind, template_path, coils, size, volumes, slices, noise, seed, files)
    tmp = out / ".demo_data.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, out / "demo_data.json")
    return record


def _record(kind: str, template_path: Path | None, coils: int, size: int,
            volumes: Sequence[int], slices: int, noise: float, seed: int,
            files: dict[str, list[str]]) -> dict[str, Any]:
    from importlib import metadata

    try:
        nilearn_version = metadata.version("nilearn") if template_path else None
    except metadata.PackageNotFoundError:
        nilearn_version = None
    return {
        "generator": "atommic_rec.data.demo_data.make_demo_data",
        "source": kind,
        "template": str(template_path) if template_path else None,
        "nilearn_version": nilearn_version,
        "coil_model": "loop coils on a ring, Biot-Savart on-axis magnitude, unit RSS",
        "coils": coils, "size": size, "slices": slices, "noise": noise, "seed": seed,
        "volumes": dict(zip(SPLITS, (int(v) for v in volumes), strict=True)),
        "fft_centered": True, "fft_normalization": "ortho", "spatial_dims": [-2, -1],
        "layout": "fastMRI multi-coil: kspace [slices, coils, H, W] complex64, sensitivity_map "
                  "like kspace, reconstruction_rss / reconstruction_sense [slices, H, W] float32",
        "files": files,
    }
