"""Independent references of the two evaluation conventions (skimage / numpy, float64).

Written from the conventions' sources, not from ``atommic_rec.metrics``: fastMRI's
``evaluate.py`` and ATOMMIC's ``tools/evaluation/reconstruction.py`` (``per_slice``).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def fastmri_reference(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """fastMRI: per volume, file units, data range = the target volume's max."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    maxval = t.max()
    return {"ssim": float(np.mean([structural_similarity(t[i], p[i], data_range=maxval,
                                                         win_size=7, K1=0.01, K2=0.03)
                                   for i in range(len(t))])),
            "psnr": float(peak_signal_noise_ratio(t, p, data_range=maxval)),
            "nmse": float(np.linalg.norm(t - p) ** 2 / np.linalg.norm(t) ** 2)}


def atommic_reference(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ATOMMIC: every slice divided by its own max, metrics per slice, mean over slices."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    t = np.abs(t / np.abs(t).max(axis=(1, 2), keepdims=True))
    p = np.abs(p / np.abs(p).max(axis=(1, 2), keepdims=True))
    maxvalue = max(t.max() - t.min(), p.max() - p.min())
    return {"ssim": float(np.mean([structural_similarity(t[i], p[i], data_range=max(maxvalue, 1))
                                   for i in range(len(t))])),
            "psnr": float(np.mean([peak_signal_noise_ratio(t[i], p[i], data_range=maxvalue)
                                   for i in range(len(t))])),
            "nmse": float(np.mean([np.linalg.norm(t[i] - p[i]) ** 2 / np.linalg.norm(t[i]) ** 2
                                   for i in range(len(t))]))}
