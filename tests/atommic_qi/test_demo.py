"""The QI demo: the comparison rule and a tiny run through the real CLI."""

import json

import pytest

from atommic_qi.demo import beats_on_every_map, comparison_table, main

MAPS = ("R2star", "S0", "B0", "phi")


def _row(ssim, mae):
    return {**{f"{m}_ssim": ssim for m in MAPS}, **{f"{m}_mae": mae for m in MAPS},
            **{f"{m}_nmse": mae / 10 for m in MAPS}}


def test_every_map_must_win_on_ssim_and_mae():
    baseline, better = _row(0.7, 2.0), _row(0.8, 1.0)
    assert beats_on_every_map(better, baseline) == []
    mixed = {**better, "phi_mae": 3.0, "B0_ssim": 0.6}
    assert beats_on_every_map(mixed, baseline) == ["B0", "phi"]
    table = comparison_table({"qZeroFilled": baseline, "qCIRIM": better},
                             ("1/s", "a.u.", "Hz", "rad"))
    assert "B0       Hz     qCIRIM        0.8000    1.0000" in table


@pytest.mark.slow
def test_tiny_demo_run_writes_the_table_archive_and_results_and_repeats_exactly(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--steps", "3", "--threads", "1", "--size", "32",
            "--coils", "2", "trainer.log_every_n_steps=50",
            "exp_manager.create_tensorboard_logger=false"]
    code = main(args)
    out = capsys.readouterr().out
    assert code in (0, 1)  # 3 tiny steps need not beat the fit; the run must complete
    assert "R2star   1/s    qZeroFilled" in out and "phi      rad    qCIRIM" in out
    results = json.loads((tmp_path / "demo_results.json").read_text())
    assert set(results["rows"]) == {"qZeroFilled", "qCIRIM"} and results["steps"] == 3
    assert (tmp_path / "experiments" / "qi_demo_cirim" / "demo" / "checkpoints" /
            "qi_demo_cirim.atommic").is_file()
    assert main(args) == code  # the same command again: the same numbers
    assert json.loads((tmp_path / "demo_results.json").read_text())["rows"] == results["rows"]
