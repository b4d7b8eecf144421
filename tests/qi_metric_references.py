"""Independent NumPy/skimage implementation of the QI ``qmri`` metric convention (not a test)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def qmri_reference(target, prediction, mask, phase=False):
    """Metrics of one map volume ``[slices, H, W]`` as the ``qmri`` convention defines them."""
    target, prediction, mask = (np.asarray(x, dtype=np.float64) for x in
                                (target, prediction, mask))
    diff = prediction - target
    if phase:
        diff = np.angle(np.exp(1j * diff))
    inside = mask > 0.5
    values = target[inside]
    data_range = values.max() - values.min()
    ssim = np.mean([structural_similarity(t * m, (t + d) * m, data_range=data_range,
                                          win_size=7)
                    for t, d, m in zip(target, diff, inside.astype(float), strict=True)])
    mse = np.mean(diff[inside] ** 2)
    return {"ssim": ssim, "psnr": 10 * np.log10(data_range**2 / mse),
            "nmse": np.sum(diff[inside] ** 2) / np.sum(values**2),
            "mae": np.mean(np.abs(diff[inside]))}
