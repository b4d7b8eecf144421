"""The demo's pieces (the full demo trains for minutes: it is run for the docs, not here)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from atommic_mtl import demo
from atommic_mtl.__main__ import main as mtl_main


def test_make_demo_data_command(tmp_path, capsys):
    assert mtl_main(["make-demo-data", str(tmp_path / "d"), "--coils", "2", "--size", "16",
                     "--volumes", "1", "0", "1", "--slices", "2", "--source", "phantom"]) == 0
    assert "labels background, csf, grey_matter, white_matter" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "d").glob("*/*.h5")) == ["mtl_test_000.h5",
                                                                       "mtl_train_000.h5"]
    assert mtl_main(["nonsense"]) == 2


def test_pipeline_cases_pair_reconstructions_with_reference_labels(tmp_path):
    data, preds = tmp_path / "data", tmp_path / "preds"
    (data / "test").mkdir(parents=True)
    preds.mkdir()
    labels = np.arange(2 * 4 * 4).reshape(2, 4, 4).astype(np.uint8) % 4
    with h5py.File(data / "test" / "v.h5", "w") as f:
        f["segmentation"] = labels
        f.attrs["spacing"] = [2.0, 1.5, 1.5]
    with h5py.File(preds / "v.h5", "w") as f:
        f["reconstruction"] = np.full((2, 4, 4), 3.0, np.float32)
    out = demo._pipeline_cases(preds, data, tmp_path / "cases")
    with h5py.File(out / "v.h5") as f:
        assert np.all(f["image"][()] == 3.0) and np.array_equal(f["segmentation"][()], labels)
        assert f.attrs["spacing"].tolist() == [2.0, 1.5, 1.5]


def test_tables_are_read_and_written(tmp_path):
    (tmp_path / "m.csv").write_text("fname,slices,ssim,psnr,nmse,convention\n"
                                    "a.h5,8,0.9,30.0,0.01,fastmri\nMEAN,8,0.9,30.0,0.01,fastmri\n")
    (tmp_path / "s.csv").write_text("case,class,dice,iou,precision,recall,f1,hd95,asd\n"
                                    + "".join(f"all,{c},{d},0,0,0,0,0,0\n" for c, d in
                                              (("csf", 0.5), ("grey_matter", 0.8),
                                               ("white_matter", 0.9), ("mean", 0.7333))))
    joint = {**demo._rec_mean(tmp_path / "m.csv"), **demo._dice(tmp_path / "s.csv"), "steps": 9}
    assert joint["ssim"] == 0.9 and joint["csf"] == 0.5 and joint["mean"] == 0.7333
    other = {**joint, "mean": 0.8, "csf": 0.7}
    table = demo._table({"joint": joint, "reference": {**other, "psnr": float("inf")}})
    assert "joint" in table and "0.500" in table and "30.00" in table
    assert "falls 0.067 short" in demo._verdict(joint, other) and "csf" in demo._verdict(
        joint, other)
    assert "above" in demo._verdict(other, joint)


def test_parallel_arm_reports_its_result_or_its_failure(monkeypatch, tmp_path):
    """The child of ``--parallel`` hands back the arms, or one line when the arm failed."""
    import queue

    import torch

    threads = torch.get_num_threads()  # unchanged by the call below

    def fail(*_):
        raise SystemExit("[demo] VarNet predict failed")

    results = queue.SimpleQueue()
    monkeypatch.setattr(demo, "_sequential", lambda *args: {"arms": list(args)})
    demo._sequential_process(tmp_path, tmp_path / "runs", 1.5, threads, results)
    assert results.get() == (True, {"arms": [tmp_path, tmp_path / "runs", 1.5]})
    monkeypatch.setattr(demo, "_sequential", fail)
    demo._sequential_process(tmp_path, tmp_path / "runs", 1.5, threads, results)
    assert results.get() == (False, "SystemExit: [demo] VarNet predict failed")


@pytest.mark.parametrize(("argv", "budget"), [([], 114), (["--steps", "7", "8", "9"], 7),
                                               (["--minutes", "2"], 2.0)])
def test_default_budget_is_fixed_steps(monkeypatch, tmp_path, argv, budget):
    """Fixed steps by default (the same command gives the same table); --minutes times them."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo_data.json").write_text("{}")
    seen = []

    def train(config, runs, given, overrides):
        seen.append((config, given))
        raise RuntimeError("stop here")

    monkeypatch.setattr(demo, "_train", train)
    with pytest.raises(RuntimeError, match="stop here"):
        demo.main(["--out", str(tmp_path), "--threads", "1", *argv])
    assert seen == [("mtl_mtlrs", budget)] and type(seen[0][1]) is type(budget)
