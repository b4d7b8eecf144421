"""Demo data: small train/val/test splits of T1 images with background/CSF/GM/WM labels.

The anatomy is the ICBM 2009a nonlinear symmetric template (Fonov et al. 2011, NeuroImage
54:2313) whose T1 and grey/white-matter probability maps ship inside the ``nilearn`` wheel;
they are located with ``importlib.util.find_spec`` (nilearn is never imported). Each case is
the template resampled to ``voxel_size`` mm under a random small rotation, scaling and shift,
with a smooth bias field and Rician-like noise. Labels: 0 background, 1 CSF (inside the
filled brain mask but neither GM nor WM), 2 grey matter, 3 white matter. Without nilearn a
NumPy phantom of nested ellipsoids with the same four labels is written instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = ["CLASS_NAMES", "find_icbm152", "make_demo_data", "tissue_labels"]

CLASS_NAMES = ("background", "csf", "grey_matter", "white_matter")
_TEMPLATE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def find_icbm152() -> dict[str, Path] | None:
    """Paths of the ICBM152 ``t1``/``gm``/``wm`` maps in an installed nilearn, or None."""
    try:
        spec = importlib.util.find_spec("nilearn")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "datasets" / "data"
    paths = {k: folder / _TEMPLATE.format(k) for k in ("t1", "gm", "wm")}
    return paths if all(p.is_file() for p in paths.values()) else None


def _load_icbm(paths: dict[str, Path], voxel_size: float) -> tuple[np.ndarray, ...]:
    import nibabel as nib

    maps = []
    for key in ("t1", "gm", "wm"):
        img = nib.load(paths[key])
        data = np.asarray(img.dataobj, dtype=np.float32) / 255.0
        zoom = [z / voxel_size for z in img.header.get_zooms()[:3]]
        maps.append(ndimage.zoom(data, zoom, order=1))
    return tuple(maps)


def _phantom(shape: Sequence[int], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """T1-like image and GM/WM probability maps of nested ellipsoids."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radii = np.array([0.8, 0.85, 0.75]) * rng.uniform(0.95, 1.05, 3)
    r = np.sqrt(sum((g / a) ** 2 for g, a in zip(grid, radii, strict=True)))
    wobble = 0.04 * np.sin(6 * np.arctan2(grid[1], grid[0]))  # gyri-like folding
    brain = r < 0.9
    wm = (r + wobble < 0.55).astype(np.float32)
    gm = ((r + wobble >= 0.55) & (r < 0.8)).astype(np.float32)
    ventricles = np.sqrt((grid[0] / 0.12) ** 2 + (grid[1] / 0.25) ** 2 + (grid[2] / 0.2) ** 2) < 1
    wm[ventricles] = 0
    skull = (r >= 0.9) & (r < 1.0)
    t1 = 0.85 * wm + 0.55 * gm + 0.15 * (brain & (wm + gm == 0)) + 0.4 * skull
    return t1.astype(np.float32), gm, wm


def tissue_labels(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Label map (0 background, 1 CSF, 2 GM, 3 WM) from grey/white-matter probabilities.

    The brain is the filled closing of ``gm + wm > 0.2``; CSF is the rest of it (ventricles,
    sulci); each voxel takes the most probable class. Also used by the MTL demo data.

    Args:
        gm: Grey-matter probability, float in [0, 1], any shape.
        wm: White-matter probability, same shape.

    Returns:
        uint8 labels of the same shape.
    """
    tissue = (gm + wm) > 0.2
    closed = ndimage.binary_closing(tissue, iterations=2)
    brain = ndimage.binary_fill_holes(closed)  # ventricles and sulci become CSF
    csf = np.clip(1 - gm - wm, 0, 1) * brain
    probs = np.stack([0.5 * (~brain), csf, gm, wm])
    return np.argmax(probs, axis=0).astype(np.uint8)


def _random_affine(shape: Sequence[int], rng: np.random.Generator,
                   out_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    angles = np.deg2rad(rng.uniform(-6, 6, 3))
    c, s = np.cos(angles), np.sin(angles)
    rx = np.array([[1, 0, 0], [0, c[0], -s[0]], [0, s[0], c[0]]])
    ry = np.array([[c[1], 0, s[1]], [0, 1, 0], [-s[1], 0, c[1]]])
    rz = np.array([[c[2], -s[2], 0], [s[2], c[2], 0], [0, 0, 1]])
    matrix = rx @ ry @ rz * rng.uniform(0.95, 1.05)
    centre_in = (np.asarray(shape) - 1) / 2 + rng.uniform(-2, 2, 3)
    centre_out = (np.asarray(out_shape) - 1) / 2
    return matrix, centre_in - matrix @ centre_out


def _one_case(maps: tuple[np.ndarray, ...], out_shape: Sequence[int],
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    matrix, offset = _random_affine(maps[0].shape, rng, out_shape)
    t1, gm, wm = (ndimage.affine_transform(m, matrix, offset, output_shape=tuple(out_shape),
                                           order=1) for m in maps)
    labels = tissue_labels(gm, wm)
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in out_shape], indexing="ij")
    bias = np.exp(sum(rng.uniform(-0.15, 0.15) * g for g in grid))
    noisy = t1 * bias
    sigma = 0.02
    noisy = np.sqrt((noisy + rng.normal(0, sigma, noisy.shape)) ** 2
                    + rng.normal(0, sigma, noisy.shape) ** 2)
    return noisy.astype(np.float32), labels


def _write_tmp_then_rename(write, path: Path) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    write(tmp)
    os.replace(tmp, path)


def _save_case(root: Path, name: str, image: np.ndarray, labels: np.ndarray, voxel_size: float,
               fmt: str) -> None:
    if fmt == "nifti":
        import nibabel as nib

        affine = np.diag([voxel_size] * 3 + [1.0])
        for sub, data in (("images", image), ("labels", labels)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            img = nib.Nifti1Image(data, affine)
            _write_tmp_then_rename(lambda p, img=img: nib.save(img, str(p)),
                                   root / sub / f"{name}.nii.gz")
        return
    import h5py

    root.mkdir(parents=True, exist_ok=True)

    def write(p: Path) -> None:
        with h5py.File(p, "w") as f:  # slices first: [Z, X, Y]
            f.create_dataset("image", data=np.moveaxis(image, 2, 0), compression="gzip")
            f.create_dataset("segmentation", data=np.moveaxis(labels, 2, 0),
                             compression="gzip")
            f.attrs["spacing"] = [voxel_size] * 3

    _write_tmp_then_rename(write, root / f"{name}.h5")


def make_demo_data(out: str | os.PathLike, splits: Sequence[int] = (6, 2, 2), seed: int = 0,
                   source: str = "auto", voxel_size: float = 3.0,
                   shape: Sequence[int] = (64, 80, 64), fmt: str = "nifti") -> dict:
    """Write ``out/{train,val,test}`` image + label cases and ``out/dataset.json``.

    Args:
        out: Output folder (created).
        splits: Number of train, validation and test cases.
        seed: Seed of the random deformations and noise.
        source: ``"icbm"``, ``"phantom"`` or ``"auto"`` (ICBM152 if nilearn is installed).
        voxel_size: Isotropic voxel size in mm of the written volumes.
        shape: Volume shape ``[X, Y, Z]`` (slices along ``Z``).
        fmt: ``"nifti"`` (``images/`` + ``labels/``) or ``"hdf5"`` (one file per case).

    Returns:
        The ``dataset.json`` content (source, classes, case names per split).
    """
    if source not in ("auto", "icbm", "phantom"):
        raise ValueError(f"source must be auto, icbm or phantom, found {source!r}")
    paths = find_icbm152() if source != "phantom" else None
    if source == "icbm" and paths is None:
        raise FileNotFoundError("ICBM152 maps not found: install nilearn or use --source "
                                "phantom")
    rng = np.random.default_rng(seed)
    maps = _load_icbm(paths, voxel_size) if paths else None
    out = Path(out)
    info = {"source": "icbm152" if paths else "phantom", "classes": list(CLASS_NAMES),
            "voxel_size": voxel_size, "shape": list(shape), "format": fmt, "splits": {}}
    counter = 0
    for split, n in zip(("train", "val", "test"), splits, strict=True):
        names = []
        for _ in range(n):
            case_maps = maps if maps is not None else _phantom(
                [int(s * 1.1) for s in shape], rng)
            image, labels = _one_case(case_maps, shape, rng)
            name = f"case_{counter:03d}"
            _save_case(out / split, name, image, labels, voxel_size, fmt)
            names.append(name)
            counter += 1
        info["splits"][split] = names
    out.mkdir(parents=True, exist_ok=True)
    _write_tmp_then_rename(lambda p: p.write_text(json.dumps(info, indent=2)),
                           out / "dataset.json")
    return info
