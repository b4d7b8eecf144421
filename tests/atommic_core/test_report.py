"""``python -m atommic_core report RUN_DIR`` and the labelled figures helper (matplotlib)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from atommic_core.cli import main
from atommic_core.errors import AtommicError
from atommic_core.plots import image_panels
from atommic_core.report import read_curves


def _fake_run(tmp_path):
    run = tmp_path / "exp" / "v0"
    (run / "csv").mkdir(parents=True)
    rows = [{"epoch": 0, "step": 9, "train_loss_step": 0.9},
            {"epoch": 0, "step": 9, "val_loss": 0.8, "val_ssim": 0.5},
            {"epoch": 1, "step": 19, "train_loss_step": 0.5},
            {"epoch": 1, "step": 19, "val_loss": 0.4, "val_ssim": 0.7},
            {"epoch": 1, "step": 19, "test_ssim": 0.72}]
    old = [{"epoch": 0, "step": 4, "train_loss_step": 1.2}]  # a resumed run's first session
    for name, data in (("metrics-0.csv", old), ("metrics.csv", rows)):
        with open(run / "csv" / name, "w", newline="") as f:
            writer = csv.DictWriter(f, ["epoch", "step", "train_loss_step", "val_loss",
                                        "val_ssim", "test_ssim"])
            writer.writeheader()
            writer.writerows(data)
    (run / "test_results.json").write_text(json.dumps([{"test_ssim": 0.72}]))
    (run / "metrics.csv").write_text("volume,ssim\nvol_a,0.71\nMEAN,0.72\n")
    (run / "previews").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(run / "previews" / "vol_a.png")
    return run


def test_curves_group_train_and_val_of_each_metric(tmp_path):
    groups = read_curves(_fake_run(tmp_path))
    assert groups["loss"] == {"train_loss_step": [(4, 1.2), (9, 0.9), (19, 0.5)],
                              "val_loss": [(9, 0.8), (19, 0.4)]}
    assert groups["ssim"] == {"val_ssim": [(9, 0.5), (19, 0.7)]}  # test_* go to the table


def test_report_writes_png_and_html(tmp_path, capsys):
    run = _fake_run(tmp_path)
    assert main(["report", str(run)]) == 0
    png, page = run / "report" / "curves.png", run / "report" / "index.html"
    assert png.is_file() and page.is_file()
    width, height = Image.open(png).size
    assert width > 2 * height  # two panels (loss, ssim) side by side
    text = page.read_text()
    assert "<th>test_ssim</th>" in text and "<td>0.72</td>" in text  # test_results.json
    assert "<td>vol_a</td>" in text  # the collection's per-volume table
    assert 'src="../previews/vol_a.png"' in text and "src='curves.png'" in text


def test_report_without_csv_metrics_says_how(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["report", str(tmp_path / "run")]) == 2
    assert "create_csv_logger: true" in capsys.readouterr().err
    with pytest.raises(AtommicError, match="not a folder"):
        from atommic_core.report import write_report

        write_report(tmp_path / "missing")


def test_image_panels_have_titles_and_colour_bars(tmp_path, monkeypatch):
    import matplotlib.figure

    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, path, **kw: (saved.append(self),
                                                  open(path, "wb").close()))
    image_panels([np.ones((4, 5)), np.zeros((4, 5))], ["target", "recon"],
                 tmp_path / "p.png", "magnitude (a.u.)", vmax=[2.0, None])
    (fig,) = saved
    images = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in images] == ["target", "recon"]
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "magnitude (a.u.)"]
    assert len(bars) == 2
    assert images[0].images[0].get_clim() == (0.0, 2.0)
