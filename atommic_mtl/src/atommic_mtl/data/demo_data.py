"""Joint demo data: REC's simulated multi-coil k-space and SEG's tissue labels on the same slices.

Each volume is a slab of axial slices through the ICBM 2009a template (Fonov et al. 2011,
NeuroImage 54:2313; T1 plus grey/white-matter probability maps from the nilearn wheel),
resampled with one random slab position, in-plane rotation, shift and intensity scale for
the T1 image and the two probability maps alike (REC's
:func:`~atommic_rec.data.anatomy.template_slices`). The T1 slices get REC's simulation
(:func:`~atommic_rec.data.demo_data.simulate_volume`: an arbitrary global phase plus a smooth
phase, loop-coil maps, centered orthonormal FFT, complex k-space noise); the probability maps
become SEG's labels
(:func:`~atommic_seg.data.demo.tissue_labels`, slice by slice: 0 background, 1 CSF, 2 GM,
3 WM). Without nilearn a phantom of nested ellipsoids with the same four classes is used.

Files: ``kspace`` ``[slices, coils, H, W]``, ``sensitivity_map``, ``reconstruction_rss``,
``reconstruction_sense``, ``segmentation`` ``[slices, H, W]`` uint8; attributes ``max``,
``norm``, ``spacing`` (slice, row, column in mm), ``acquisition``, ``patient_id``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from atommic_rec.data.anatomy import template_slices
from atommic_rec.data.demo_data import (
    DEMO_NOISE,
    coil_sensitivities,
    simulate_volume,
    smooth_phase,
    write_h5,
)
from atommic_seg.data.demo import CLASS_NAMES, find_icbm152, tissue_labels

__all__ = ["CLASS_NAMES", "SPLITS", "make_demo_data"]

SPLITS = ("train", "val", "test")
FOV_MM = 200.0  # template_slices' field of view for the ICBM152 template
SLICE_STEP = 2.0  # voxels (mm) between neighbouring slices


def _load_maps(source: str) -> tuple[str, tuple[np.ndarray, ...]]:
    paths = find_icbm152() if source in ("auto", "icbm152") else None
    if source == "icbm152" and paths is None:
        raise FileNotFoundError("make_demo_data: expected the ICBM152 maps in the nilearn wheel; "
                                "found them missing; hint: pip install nibabel && pip install "
                                "--no-deps nilearn (or use --source phantom)")
    if paths is None:
        return "phantom", _phantom()
    import nibabel

    return "icbm152", tuple(np.asarray(nibabel.load(paths[k]).dataobj, dtype=np.float32)
                            for k in ("t1", "gm", "wm"))


def _phantom(shape: Sequence[int] = (160, 190, 160)) -> tuple[np.ndarray, ...]:
    """T1-like volume and GM/WM maps of nested ellipsoids (1 mm voxels, ICBM-like extent)."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r = np.sqrt((grid[0] / 0.75) ** 2 + (grid[1] / 0.8) ** 2 + (grid[2] / 0.75) ** 2)
    folds = 0.05 * np.sin(7 * np.arctan2(grid[1], grid[0]))  # gyri-like cortex
    wm = (r + folds < 0.6).astype(np.float32)
    ventricles = (grid[0] / 0.16) ** 2 + (grid[1] / 0.3) ** 2 + (grid[2] / 0.35) ** 2 < 1
    wm[ventricles] = 0
    gm = ((r + folds >= 0.6) & (r < 0.85)).astype(np.float32)
    t1 = 0.85 * wm + 0.55 * gm + 0.15 * ((r < 0.9) & (wm + gm == 0))
    return t1.astype(np.float32), gm, wm


def _geometry(template: np.ndarray, slices: int, rng: np.random.Generator) -> dict[str, Any]:
    """One slab: slice centres, rotation, shift and intensity scale (as REC's demo draws)."""
    nz = template.shape[2]
    center = rng.uniform(0.37, 0.58) * nz  # within the cerebrum (ICBM: voxels 70-110)
    return {"centers": center + SLICE_STEP * (np.arange(slices) - slices / 2),
            "angle": np.deg2rad(rng.uniform(-8, 8)), "shift": tuple(rng.uniform(-0.03, 0.03, 2)),
            "scale": rng.uniform(0.8, 1.2)}


def make_demo_data(out: str | os.PathLike, *, coils: int = 8, size: int = 128,
                   volumes: Sequence[int] = (4, 2, 2), slices: int = 8,
                   noise: float = DEMO_NOISE,
                   seed: int = 0, source: str = "auto") -> dict[str, Any]:
    """Write ``out/{train,val,test}/*.h5`` and ``out/demo_data.json``.

    Args:
        out: Output folder (created).
        coils: Receive coils.
        size: Image side in pixels (square; the field of view is 200 mm).
        volumes: Volumes in train, val and test.
        slices: Axial slices per volume (2 mm apart).
        noise: Complex k-space noise std relative to the image maximum.
        seed: Seed of every random choice; the same seed gives the same files.
        source: ``"icbm152"``, ``"phantom"`` or ``"auto"`` (the template if found).

    Returns:
        The record written to ``demo_data.json``.
    """
    if len(volumes) != 3 or min(volumes) < 0 or coils < 1 or size < 16 or slices < 1:
        raise ValueError(f"make_demo_data: expected 3 volume counts >= 0, coils >= 1, size >= 16 "
                         f"and slices >= 1; found volumes={list(volumes)}, coils={coils}, "
                         f"size={size}, slices={slices}")
    if source not in ("auto", "icbm152", "phantom"):
        raise ValueError(f"make_demo_data: expected source auto|icbm152|phantom; found {source!r}")
    kind, (t1, gm, wm) = _load_maps(source)
    out, rng = Path(out), np.random.default_rng(seed)
    files: dict[str, list[str]] = {}
    spacing = [SLICE_STEP, FOV_MM / size, FOV_MM / size]
    for split, count in zip(SPLITS, volumes, strict=True):
        (out / split).mkdir(parents=True, exist_ok=True)
        files[split] = []
        for index in range(count):
            g = _geometry(t1, slices, rng)
            view = (size, g["centers"], g["angle"], g["shift"])
            magnitude = g["scale"] * template_slices(t1, *view)
            # slice by slice: a 3D closing would erode the slab's first and last slices
            labels = np.stack([tissue_labels(g, w) for g, w in
                               zip(template_slices(gm, *view), template_slices(wm, *view),
                                   strict=True)])
            maps = coil_sensitivities(coils, size, rng)
            data = {**simulate_volume(magnitude, maps, smooth_phase(size, rng), noise, rng),
                    "segmentation": labels}
            rss = data["reconstruction_rss"]
            name = f"mtl_{split}_{index:03d}.h5"
            write_h5(out / split / name, data, {
                "max": float(rss.max()), "norm": float(np.linalg.norm(rss)),
                "spacing": spacing, "acquisition": "AXT1_SIMULATED", "source": kind,
                "patient_id": f"mtl-{split}-{index:03d}", "class_names": json.dumps(CLASS_NAMES),
                "fft_centered": True, "fft_normalization": "ortho"})
            files[split].append(f"{split}/{name}")
    record = {"generator": "atommic_mtl.data.demo_data.make_demo_data", "source": kind,
              "coils": coils, "size": size, "slices": slices, "noise": noise, "seed": seed,
              "spacing_mm": spacing, "classes": list(CLASS_NAMES),
              "volumes": dict(zip(SPLITS, (int(v) for v in volumes), strict=True)),
              "fft_centered": True, "fft_normalization": "ortho", "files": files}
    tmp = out / ".demo_data.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, out / "demo_data.json")
    return record
