"""A held-out simulated dataset, deliberately unlike the demo data, to measure generalisation.

The demo data (:mod:`atommic_rec.data.demo_data`) are axial slabs of the ICBM152 T1 template,
128x128, 8 loop coils on a circle. A model that only learned those would fail on a scanner;
this set changes everything a new site changes:

- **another subject**: a smooth random elastic deformation of the template (per dataset, i.e.
  per subject), a skull and scalp shell around the (skull-stripped) brain, a fine tissue
  texture; the T1 contrast (``t1``) or, for a contrast shift as well, a synthesised T2-like
  contrast (``t2``: CSF bright, from the ICBM152 grey/white-matter probability maps that ship
  next to the T1 template);
- **other slices**: axial, coronal or sagittal slabs at other positions, rotated by multiples
  of 90 degrees and flipped;
- **other coils**: another number of loops, on an ellipse, with other loop sizes and jitter;
- arbitrary global phase per volume, a stronger smooth phase, more noise, 160x160 images.

Files follow the fastMRI layout of the demo data. ``maps_in_file=False`` leaves out
``sensitivity_map`` (models then estimate maps) and ``targets`` chooses which of
``reconstruction_rss``/``reconstruction_sense`` are written. Without nilearn the numpy
phantom stands in for the anatomy (with the same coil, phase, orientation and noise changes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from atommic_rec.data.anatomy import (
    ORIENTATIONS,
    find_icbm152_template,
    phantom_slices,
    slice_coordinates,
    smooth_warp,
)
from atommic_rec.data.demo_data import (
    SPLITS,
    coil_sensitivities,
    load_template,
    resolve_template,
    simulate_volume,
    smooth_phase,
    write_h5,
)

__all__ = ["CONTRASTS", "make_heldout_data"]

CONTRASTS = ("t1", "t2")
_TARGETS = ("rss", "sense")


class _Subject:
    """The anatomy of one simulated subject: tissue volumes, a deformation and a contrast."""

    def __init__(self, template_path: Path | None, contrast: str, texture: float,
                 rng: np.random.Generator) -> None:
        self.kind = "icbm152" if template_path is not None else "phantom"
        self.texture = texture
        if self.kind == "phantom":
            return
        t1 = load_template(template_path)
        brain = t1 > 0
        if contrast == "t1":
            self.tissue = t1 / t1.max()
            self.scalp = rng.uniform(0.7, 0.9)  # fat is bright on T1
        else:
            gm, wm = (load_template(find_icbm152_template(t)) / 255.0 for t in ("gm", "wm"))
            csf = np.clip(brain - gm - wm, 0.0, 1.0)
            w_gm, w_wm = rng.uniform(0.5, 0.65), rng.uniform(0.3, 0.42)
            self.tissue = (w_gm * gm + w_wm * wm + csf).astype(np.float32)
            self.scalp = rng.uniform(0.4, 0.6)
        # distance outside the brain in mm, at half resolution (cheap; the shell is smooth)
        self.distance = ndimage.distance_transform_edt(~brain[::2, ::2, ::2], sampling=2.0)
        self.scalp_mm = (rng.uniform(3.0, 5.0), rng.uniform(5.0, 8.0))  # skull, scalp
        self.warp = smooth_warp(rng, amplitude=rng.uniform(3.0, 5.0))

    def slices(self, size: int, orientation: str, slices: int,
               rng: np.random.Generator) -> np.ndarray:
        """Magnitudes ``[slices, size, size]`` of one slab, in [0, ~1.4]."""
        angle, shift = np.deg2rad(rng.uniform(-10, 10)), tuple(rng.uniform(-0.04, 0.04, 2))
        if self.kind == "phantom":
            centre = rng.uniform(-0.3, 0.3)
            images = phantom_slices(size, centre + 0.05 * (np.arange(slices) - slices / 2),
                                    angle, shift)
        else:
            images = self._template_slab(size, orientation, slices, angle, shift, rng)
        if self.texture > 0:  # tissue heterogeneity the smooth average template lacks
            grain = ndimage.gaussian_filter(rng.standard_normal(images.shape), (0, 1.2, 1.2))
            images = images * (1 + self.texture * grain / max(grain.std(), 1e-6))
        images = np.rot90(images, k=int(rng.integers(4)), axes=(1, 2))
        if rng.random() < 0.5:
            images = images[:, :, ::-1]
        return np.clip(rng.uniform(0.7, 1.4) * images, 0, None).astype(np.float32)

    def _template_slab(self, size: int, orientation: str, slices: int, angle: float,
                       shift: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
        slice_axis = ORIENTATIONS[orientation][2]
        extent = self.tissue.shape[slice_axis]
        spacing = rng.uniform(2.0, 3.0)
        centre = rng.uniform(0.4, 0.6) * extent
        centres = centre + spacing * (np.arange(slices) - (slices - 1) / 2)
        coords = slice_coordinates(self.tissue.shape, size, centres, angle, shift,
                                   orientation=orientation, fov=rng.uniform(215, 235),
                                   warp=self.warp)
        tissue = ndimage.map_coordinates(self.tissue, coords, order=1, cval=0.0)
        distance = ndimage.map_coordinates(self.distance, coords / 2, order=1, cval=99.0)
        skull, scalp = self.scalp_mm
        shell = _ramp(distance - skull) * _ramp(skull + scalp - distance)
        return (tissue + self.scalp * shell).astype(np.float32)


def _ramp(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x / 0.7))  # a soft step over ~2 mm


def make_heldout_data(out: str | os.PathLike, *, coils: int = 12, size: int = 160,
                      volumes: Sequence[int] = (0, 0, 4), slices: int = 8, noise: float = 0.02,
                      seed: int = 1000, source: str = "auto", contrast: str = "t1",
                      orientations: Sequence[str] = tuple(ORIENTATIONS), texture: float = 0.08,
                      maps_in_file: bool = True,
                      targets: Sequence[str] = _TARGETS) -> dict[str, Any]:
    """Write ``out/{train,val,test}/*.h5`` of one simulated subject and ``out/heldout_data.json``.

    Args:
        out: Output folder (created).
        coils: Number of loop coils (on an ellipse, unlike the demo's circle of 8).
        size: Image side in pixels (square).
        volumes: Number of volumes in train, val and test (default: a 4-volume test set).
        slices: Slices per volume.
        noise: Complex k-space noise std relative to the image maximum.
        seed: Seed of every random choice (the subject, the coils, every volume).
        source: ``"icbm152"``, ``"phantom"`` or ``"auto"`` (as for the demo data).
        contrast: ``"t1"`` or ``"t2"`` (synthesised from the grey/white-matter maps).
        orientations: Slice planes (``axial``, ``coronal``, ``sagittal``); the volumes of each
            split cycle through them in a random order.
        texture: Relative std of a fine multiplicative tissue texture (0 = none).
        maps_in_file: Write the true ``sensitivity_map``.
        targets: Which targets to write: ``"rss"`` and/or ``"sense"``.

    Returns:
        The record written to ``heldout_data.json``.
    """
    if contrast not in CONTRASTS or not set(orientations) <= set(ORIENTATIONS) or \
            not orientations or not set(targets) <= set(_TARGETS) or not targets:
        raise ValueError(f"make_heldout_data: expected contrast in {CONTRASTS}, orientations "
                         f"among {list(ORIENTATIONS)} and targets among {list(_TARGETS)}; found "
                         f"{contrast!r}, {list(orientations)}, {list(targets)}")
    if len(volumes) != 3 or min(volumes) < 0 or coils < 1 or size < 8 or slices < 1:
        raise ValueError(f"make_heldout_data: expected 3 volume counts >= 0, coils >= 1, "
                         f"size >= 8, slices >= 1; found volumes={list(volumes)}, "
                         f"coils={coils}, size={size}, slices={slices}")
    rng = np.random.default_rng(seed)
    subject = _Subject(resolve_template(source, "make_heldout_data"), contrast, texture, rng)
    geometry = {"radius": [rng.uniform(1.05, 1.25), rng.uniform(1.3, 1.5)],
                "loop": rng.uniform(0.45, 0.6), "jitter": 0.4}
    out = Path(out)
    files: dict[str, list[str]] = {}
    planes = [orientations[int(i)] for i in rng.permutation(len(orientations))]
    for split, count in zip(SPLITS, volumes, strict=True):
        (out / split).mkdir(parents=True, exist_ok=True)
        files[split] = []
        for index in range(count):
            orientation = planes[index % len(planes)]  # every split cycles through the planes
            magnitude = subject.slices(size, orientation, slices, rng)
            maps = coil_sensitivities(coils, size, rng, **geometry)
            data = simulate_volume(magnitude, maps, smooth_phase(size, rng, curvature=1.0),
                                   noise, rng)
            kept = {k: v for k, v in data.items() if _keep(k, maps_in_file, targets)}
            rss = data["reconstruction_rss"]
            name = f"heldout_{split}_{index:03d}.h5"
            write_h5(out / split / name, kept, {
                "max": float(rss.max()), "norm": float(np.linalg.norm(rss)),
                "acquisition": f"{contrast.upper()}_{orientation.upper()}_SIMULATED",
                "patient_id": f"heldout-{seed}", "source": subject.kind,
                "fft_centered": True, "fft_normalization": "ortho"})
            files[split].append(f"{split}/{name}")
    record = {"generator": "atommic_rec.data.heldout_data.make_heldout_data",
              "source": subject.kind, "contrast": contrast, "coils": coils, "size": size,
              "slices": slices, "noise": noise, "seed": seed, "texture": texture,
              "orientations": list(orientations), "maps_in_file": maps_in_file,
              "targets": list(targets), "coil_geometry": geometry,
              "volumes": dict(zip(SPLITS, (int(v) for v in volumes), strict=True)),
              "fft_centered": True, "fft_normalization": "ortho", "files": files}
    tmp = out / ".heldout_data.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, out / "heldout_data.json")
    return record


def _keep(key: str, maps_in_file: bool, targets: Sequence[str]) -> bool:
    if key == "sensitivity_map":
        return maps_in_file
    if key.startswith("reconstruction_"):
        return key.removeprefix("reconstruction_") in targets
    return True
