"""Reconstruction preview panels: titles and labelled colour bars (matplotlib), or plain PNG."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from atommic_rec.models._outputs import write_labelled_png, write_panel_png


def _captured(monkeypatch):
    import matplotlib.figure

    saved = []
    real = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, path, **kw: (saved.append(self), real(self, path, **kw)))
    return saved


def test_panel_has_titles_colour_bars_and_shared_range(tmp_path, monkeypatch):
    saved = _captured(monkeypatch)
    target = torch.linspace(0, 2, 48).reshape(6, 8)
    path = write_panel_png(target, target * 0.5, str(tmp_path / "p.png"), "vol slice 3")
    (fig,) = saved
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == [
        "vol slice 3: target", "reconstruction", "|target - reconstruction|"]
    assert sum(ax.get_ylabel() == "magnitude (file units)" for ax in fig.axes) == 3
    assert titled[1].images[0].get_clim() == (0.0, 2.0)  # target range, not its own max
    assert Image.open(path).mode in ("RGBA", "RGB")


def test_without_matplotlib_plain_grey_png(tmp_path, monkeypatch):
    import atommic_core.plots as plots

    monkeypatch.setattr(plots, "matplotlib_or_none", lambda: None)
    target = torch.rand(6, 8, generator=torch.Generator().manual_seed(0))
    panel = np.asarray(Image.open(write_panel_png(target, target, str(tmp_path / "p.png"))))
    assert panel.shape == (6, 24)  # target | reconstruction | error, grey
    single = np.asarray(Image.open(write_labelled_png(target, str(tmp_path / "s.png"), "t")))
    assert single.shape == (6, 8)
