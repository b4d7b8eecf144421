"""Reconstruction preview panels: titles and labelled colour bars (matplotlib), or plain PNG."""

from __future__ import annotations

import os

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


def test_predict_writes_a_16bit_dicom_series_per_volume(tmp_path):
    import pydicom

    from atommic_rec.models import ZeroFilled

    model = ZeroFilled({"write_dicom": True, "write_png": False})
    recon = torch.rand(3, 6, 8, generator=torch.Generator().manual_seed(2)) * 5
    outputs = [{"fname": ["vol_a.h5", "vol_a.h5"], "slice_idx": [1, 0],
                "reconstruction": recon[[1, 0]]},
               {"fname": ["vol_a.h5"], "slice_idx": [2], "reconstruction": recon[2:]}]
    written = model.write_predictions(outputs, str(tmp_path))
    series = sorted(w for w in written if w.endswith(".dcm"))
    assert [os.path.basename(os.path.dirname(p)) for p in series] == ["vol_a_dicom"] * 3
    slices = [pydicom.dcmread(p) for p in series]
    back = np.stack([s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept)
                     for s in slices])
    np.testing.assert_allclose(back, recon.numpy(), atol=float(slices[0].RescaleSlope))
    assert slices[0].SeriesDescription == "ZeroFilled reconstruction"
    assert "geometry unknown" in slices[0].ImageComments
