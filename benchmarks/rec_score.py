"""Independent fastMRI-convention scoring of reconstructions written by ``predict``.

Used by ``rec_acceptance.py`` and ``rec_generalisation.py``. It does not use
``atommic_rec.metrics``: per volume, magnitudes in file units, data range = the target
volume's max; SSIM is ``skimage.metrics.structural_similarity(gt, pred, data_range=gt.max())``
per slice (7x7 uniform window, K1 0.01, K2 0.03, as in fastMRI's ``evaluate.py``) averaged
over slices; PSNR and NMSE are computed over the whole volume in float64 numpy.

The zero-filled baseline is the magnitude of the test split's ``initial_image`` times its
``scale`` (the same masks as ``predict``: deterministic per file name).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

METRICS = ("ssim", "psnr", "nmse")
CONVENTION = ("fastMRI convention: per volume, file units, data range = target volume max; "
              "SSIM = skimage structural_similarity 7x7 per slice, averaged")


def volume_metrics(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """SSIM/PSNR/NMSE of one volume ``[slices, H, W]`` (fastMRI convention)."""
    from skimage.metrics import structural_similarity

    gt, pred = np.asarray(gt, np.float64), np.asarray(pred, np.float64)
    maxval = float(gt.max())
    ssim = np.mean([structural_similarity(g, p, data_range=maxval) for g, p in zip(gt, pred,
                                                                                strict=True)])
    mse = float(np.mean((gt - pred) ** 2))
    return {"ssim": float(ssim), "psnr": float(20 * np.log10(maxval) - 10 * np.log10(mse)),
            "nmse": float(np.sum((gt - pred) ** 2) / np.sum(gt**2))}


def read_target(path: Path, keys: Sequence[str]) -> np.ndarray:
    """The first of ``keys`` found in the data file (``reconstruction_sense``/``_rss``)."""
    with h5py.File(path, "r") as f:
        for key in keys:
            if key in f:
                return np.abs(f[key][()])
    raise KeyError(f"{path}: none of {list(keys)}")


def target_keys(method: str) -> tuple[str, ...]:
    """Target preference of ``atommic_rec.data.build_rec_dataset`` for a combination method."""
    return ("reconstruction_rss", "reconstruction_sense") if method == "rss" else \
        ("reconstruction_sense", "reconstruction_rss")


def score_predictions(pred_dir: Path, data_dir: Path, method: str) -> dict[str, dict]:
    """Per-volume metrics of every ``predict`` output in ``pred_dir`` against ``data_dir``."""
    out = {}
    for path in sorted(Path(data_dir).glob("*.h5")):
        with h5py.File(Path(pred_dir) / path.name, "r") as f:
            pred = f["reconstruction"][()]
        out[path.name] = volume_metrics(read_target(path, target_keys(method)), pred)
    return out


def zero_filled_volumes(test_ds: dict[str, Any]) -> dict[str, np.ndarray]:
    """``|initial_image| * scale`` per volume of a ``test_ds`` config section."""
    from atommic_rec.data import build_rec_dataset

    dataset = build_rec_dataset(test_ds, "test")
    slices: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for i in range(len(dataset)):
        item = dataset[i]
        slices[item["fname"]][item["slice_idx"]] = item["initial_image"].abs().numpy() * \
            item["scale"]
    return {name: np.stack([s[k] for k in sorted(s)]) for name, s in slices.items()}


def score_zero_filled(test_ds: dict[str, Any], data_dir: Path, method: str) -> dict[str, dict]:
    """Per-volume metrics of the zero-filled baseline."""
    volumes = zero_filled_volumes(test_ds)
    return {name: volume_metrics(read_target(Path(data_dir) / name, target_keys(method)), vol)
            for name, vol in sorted(volumes.items())}


def mean(per_volume: dict[str, dict]) -> dict[str, float]:
    """Mean of each metric over volumes."""
    return {k: float(np.mean([m[k] for m in per_volume.values()])) for k in METRICS}


def run_cli(command: str, config: str, overrides: list[str], threads: int, log: Path) -> float:
    """Run ``python -m atommic_core COMMAND`` in a fresh process; returns its wall time."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with open(log, "w") as f:
        code = subprocess.call([sys.executable, "-m", "atommic_core", command, "--config-name",
                                config, *overrides], stdout=f, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise SystemExit(f"{command} failed (exit {code}); see {log}")
    return time.perf_counter() - start
