"""Evaluation-time inference: sliding windows and flip test-time augmentation.

Both wrap a function ``fn(image) -> logits`` (``[B, C_in, *S] -> [B, C, *S]``) and return
logits of the whole input, so they compose: ``flip_tta(lambda x: sliding_window(fn, x, ...))``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch

from atommic_core.errors import ConfigError

__all__ = ["flip_axes", "flip_tta", "sliding_window"]

Logits = Callable[[torch.Tensor], torch.Tensor]


def sliding_window(fn: Logits, image: torch.Tensor, num_classes: int,
                   patch_size: Sequence[int], overlap: float = 0.5) -> torch.Tensor:
    """Average the logits of overlapping windows of ``patch_size`` (one size per spatial axis).

    Args:
        fn: The network, ``[B, C_in, *P] -> [B, num_classes, *P]``.
        image: ``[B, C_in, *S]``.
        num_classes: Output channels.
        patch_size: Window size per spatial axis (clipped to the input size).
        overlap: Fraction by which neighbouring windows overlap.

    Returns:
        Logits ``[B, num_classes, *S]``.
    """
    spatial = image.shape[2:]
    patch = [min(int(p), n) for p, n in zip(patch_size, spatial, strict=True)]
    starts = []
    for n, p in zip(spatial, patch, strict=True):
        step = max(1, int(p * (1 - overlap)))
        starts.append(sorted({*range(0, n - p + 1, step), n - p}))
    out = image.new_zeros(image.shape[0], num_classes, *spatial)
    count = image.new_zeros(1, 1, *spatial)
    for corner in itertools.product(*starts):
        window = (slice(None), slice(None),
                  *[slice(c, c + p) for c, p in zip(corner, patch, strict=True)])
        out[window] += fn(image[window])
        count[window] += 1
    return out / count


def flip_axes(value: bool | Sequence[int] | None, dims: int) -> list[int]:
    """The axes ``model.inference.flip_tta`` flips: ``true`` = the two in-plane axes.

    Args:
        value: ``false``/None (off), ``true`` (``[-2, -1]``) or a list of spatial axes counted
            from the end (``-1`` = W, ``-2`` = H, ``-3`` = slices of a 3D item).
        dims: Spatial dimensions of an item (2 or 3).

    Returns:
        The axes, negative, without repeats (empty when off).

    Raises:
        ConfigError: For an axis that is not a spatial axis of the item.
    """
    if value is None or value is False:
        return []
    if value is True:
        return [-2, -1]
    axes = sorted({int(a) for a in value})
    if not axes or any(not -dims <= a <= -1 for a in axes):
        raise ConfigError(f"model.inference.flip_tta: expected true, false or spatial axes in "
                         f"[-{dims}, -1], found {list(value)}; hint: [-1] flips W only")
    return axes


def flip_tta(fn: Logits, image: torch.Tensor, axes: Sequence[int],
             multilabel: bool = False) -> torch.Tensor:
    """Flip test-time augmentation: average probabilities over every subset of flipped axes.

    Each flipped input's output is flipped back before averaging (``2**len(axes)`` passes).
    Softmax (multiclass) or sigmoid (multilabel) probabilities are averaged, as in nnU-Net
    (Isensee et al. 2021, Nature Methods 18:203) and MONAI's ``TestTimeAugmentation``.

    Args:
        fn: Logits of an input, ``[B, C_in, *S] -> [B, C, *S]``.
        image: ``[B, C_in, *S]``.
        axes: Spatial axes to flip, negative (see :func:`flip_axes`).
        multilabel: Sigmoid per channel instead of softmax over channels.

    Returns:
        Logits of the mean probability ``p``: ``log p`` (multiclass; its softmax is ``p``) or
        ``log(p / (1 - p))`` (multilabel; its sigmoid is ``p``), finite.
    """
    total = None
    subsets = [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]
    for flips in subsets:
        logits = fn(image.flip(flips) if flips else image)
        logits = logits.flip(flips) if flips else logits
        probs = logits.sigmoid() if multilabel else logits.softmax(dim=1)
        total = probs if total is None else total + probs
    mean = total / len(subsets)
    eps = torch.finfo(mean.dtype).eps
    if multilabel:
        mean = mean.clamp(eps, 1 - eps)
        return mean.log() - (-mean).log1p()
    return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()
