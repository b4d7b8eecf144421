"""benchmarks/rec_zoo.py: the ATOMMIC-builder table covers the zoo, and one measurement runs.

One measurement is one fresh process printing one JSON line (the keys of the baseline's
``step_bench.py``); ours needs only the baseline's ``make_data``, ATOMMIC's side its venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from atommic_core.registry import models

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "rec_zoo.py"
sys.path.insert(0, str(SCRIPT.parent))
import rec_zoo  # noqa: E402

ATOMMIC_PYTHON = Path(os.environ.get(
    "ATOMMIC_BASELINE_VENV", Path.home() / ".cache" / "atommic-baseline" / "venv")) / "bin/python"
HAS_BASELINE = (rec_zoo.rec_bench.BASELINE / "step_bench.py").is_file()
# REC models that predate the zoo (compared by benchmarks/rec_bench.py)
NOT_ZOO = {"ZeroFilled", "UNet", "VarNet", "CIRIM", "RIM"}
TINY = ["--coils", "2", "--height", "16", "--width", "16", "--steps", "1", "--warmup", "0"]


def test_builder_table_covers_the_zoo_and_its_reference_configs():
    rec = {n for n in models if models[n].__module__.startswith("atommic_rec.")}
    assert set(rec_zoo.MODELS) == rec - NOT_ZOO
    for name, (config, atommic) in rec_zoo.MODELS.items():
        cfg = OmegaConf.load(rec_zoo.CONFIGS / f"{config}.yaml")
        assert cfg.model.model_name == name
        path, settings = atommic()
        assert path.startswith(rec_zoo.NN) and path.endswith(f":{name}")
        assert settings


def _one(python: str, side: str, model: str = "XPDNet") -> dict:
    run = subprocess.run([python, str(SCRIPT), "one", "--side", side, "--model", model, *TINY],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout  # library chatter goes to stderr
    return json.loads(lines[0])


@pytest.mark.skipif(not HAS_BASELINE, reason="the baseline's step_bench.py (make_data) is absent")
def test_our_side_measures_one_model_in_one_process():
    res = _one(sys.executable, "ours")
    assert res["toolkit"].startswith("atommic-rec-") and res["model"] == "XPDNet"
    assert res["params"] == sum(p.numel() for p in rec_zoo.build_ours("XPDNet").parameters())
    assert res["shape"] == [1, 2, 16, 16] and res["threads"] == 1 and res["steps"] == 1
    assert res["step_s_median"] > 0 and res["infer_s_median"] > 0 and res["peak_rss_gb"] > 0
    assert "defect" not in res and "error" not in res


@pytest.mark.skipif(not (HAS_BASELINE and ATOMMIC_PYTHON.is_file()),
                    reason="ATOMMIC baseline venv absent (shared/bench/atommic_baseline/setup.sh)")
def test_atommic_side_measures_the_same_inputs_at_equal_parameters():
    theirs = _one(str(ATOMMIC_PYTHON), "atommic")
    assert theirs["toolkit"] == "atommic-1.0.1" and "error" not in theirs
    ours = sum(p.numel() for p in rec_zoo.build_ours("XPDNet").parameters())
    assert theirs["params"] == ours
    n = rec_zoo.rec_bench.baseline_data(rec_zoo.parse_args(["bench", *TINY]))["sampled_columns"]
    assert theirs["sampled_columns"] == n and theirs["step_s_median"] > 0


def _runs(model_key, atommic: list[float], ours: list[float], **extra) -> list[dict]:
    """alternate.py's output for two sides over len(atommic) rounds, then its summary."""
    runs = []
    for rnd, (a, o) in enumerate(zip(atommic, ours, strict=True)):
        for cmd, v in ((0, a), (1, o)):
            runs.append({"round": rnd, "cmd": cmd, "model": model_key, "params": 10,
                         "step_s_median": v, "infer_s_median": v / 2, "peak_rss_gb": 1.0 + cmd,
                         "shape": [1, 2, 8, 8], "sampled_columns": 3,
                         **(extra if cmd == 0 else {})})
    med = sorted(atommic)[len(atommic) // 2], sorted(ours)[len(ours) // 2]
    summary = [{"cmd": c, "params": 10, "step_s_median": m, "infer_s_median": m / 2,
                "peak_rss_gb": 1.0 + c} for c, m in enumerate(med)]
    return [*runs, {"summary": summary}]


def test_rows_report_ratios_their_per_round_spread_and_atommic_failures():
    row = rec_zoo.bench_row("VSNet", _runs("VSNet", [2.0, 4.0, 3.0], [1.0, 1.0, 3.0]))
    assert row["step_ratio"] == pytest.approx(1.0 / 3.0)
    assert row["step_ratio_spread"] == pytest.approx([0.25, 1.0])
    assert row["rss_ratio"] == 2.0 and row["differ"] == [] and not row["atommic_defect"]
    nan = rec_zoo.bench_row("MoDL", _runs("MoDL", [2.0], [1.0], defect="non-finite output"))
    assert nan["atommic_defect"] == "non-finite output" and nan["step_ratio"] == 0.5
    failed = _runs("DUNet", [1.0], [1.0])
    failed[0] = {"round": 0, "cmd": 0, "model": "DUNet", "error": "RuntimeError: boom"}
    failed[-1]["summary"][0].update(params=None, step_s_median=None)
    broken = rec_zoo.bench_row("DUNet", failed)
    assert broken["atommic_error"] == "RuntimeError: boom" and "step_ratio" not in broken
    text = rec_zoo.table(rec_zoo.parse_args(["bench"]), [row, nan, broken])
    assert "| VSNet | 10 | 10 |" in text and "MoDL (ATOMMIC defective)" in text
    assert "| DUNet | failed |" in text and "could not run: RuntimeError: boom" in text
    assert "EhE_Op ignores the mask" in text


@pytest.mark.parametrize("bad", [False, True])
def test_measure_times_a_custom_loss_of_tuple_outputs_and_flags_non_finite_ones(bad):
    """The shared timing rules of rec_bench (used by the QI and MTL benchmarks too): a custom
    loss over several outputs trains, and a non-finite output in any of them is flagged."""
    from types import SimpleNamespace

    import torch

    torch.manual_seed(0)
    net = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)

    def estimate():
        out = net(x)
        return out, (out * float("nan") if bad else out.square())

    timing = rec_zoo.rec_bench.measure(
        net, estimate, None, SimpleNamespace(warmup=1, steps=3, lr=1e-1),
        loss_of=lambda out: out[0].abs().mean() + out[1].mean())
    assert timing["params"] == 20 and timing["finite"] is (not bad)
    assert timing["step_s_median"] >= timing["step_s_min"]
    if not bad:
        assert timing["loss_last"] < timing["loss_first"]
