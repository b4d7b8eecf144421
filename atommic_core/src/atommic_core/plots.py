"""Labelled figures (titles, colour bars, legends) with matplotlib, an optional dependency.

matplotlib is imported only here, only when a figure is drawn, with the non-interactive
``Agg`` backend (no display needed). Collections use :func:`matplotlib_or_none` for their
preview PNGs (falling back to plain grey-scale PNGs without it) and the ``report`` command
uses :func:`require_matplotlib` (a one-line install hint when missing).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from atommic_core.errors import AtommicError

__all__ = ["image_panels", "matplotlib_or_none", "require_matplotlib", "save_figure"]

INSTALL_HINT = "pip install 'atommic-core[plots]'"


def matplotlib_or_none() -> Any:
    """``matplotlib.pyplot`` (Agg backend), or ``None`` when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def require_matplotlib(what: str) -> Any:
    """``matplotlib.pyplot``, or an error naming the extra to install.

    Args:
        what: What needs it, for the message (e.g. ``"report"``).

    Returns:
        The ``pyplot`` module.
    """
    plt = matplotlib_or_none()
    if plt is None:
        raise AtommicError(f"{what} needs matplotlib, which is not installed; install it with: "
                           f"{INSTALL_HINT}")
    return plt


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> str:
    """Save a figure as PNG to a temporary name in the same folder, rename, close it.

    Args:
        fig: A matplotlib figure.
        path: Destination ``.png``.
        dpi: Resolution.

    Returns:
        The path written.
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".fig.", suffix=".png", dir=os.path.dirname(path) or ".")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def image_panels(images: Sequence[Any], titles: Sequence[str], path: str | os.PathLike,
                 colorbar_label: str, vmax: Sequence[float | None] | None = None,
                 cmap: Sequence[str] | None = None) -> str | None:
    """Images side by side, each with a title and a labelled colour bar, as one PNG.

    Args:
        images: 2D arrays ``[rows, cols]``, shown with row 0 at the top.
        titles: One title per image.
        path: Destination ``.png``.
        colorbar_label: Label of every colour bar (the quantity and its units).
        vmax: Upper display limit per image (``None``: the image's maximum); lower is 0.
        cmap: Colour map per image (default ``gray``).

    Returns:
        The path written, or ``None`` when matplotlib is not installed.
    """
    plt = matplotlib_or_none()
    if plt is None:
        return None
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.2), squeeze=False)
    for i, (ax, image, title) in enumerate(zip(axes[0], images, titles, strict=True)):
        top = (vmax[i] if vmax is not None else None)
        shown = ax.imshow(image, cmap=(cmap[i] if cmap else "gray"), vmin=0, vmax=top,
                          interpolation="nearest")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label(colorbar_label)
    return save_figure(fig, path)
