"""An environment with only atommic-core + atommic-rec + atommic-qi is a working QI toolkit."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_core_rec_qi_alone_list_and_run_qzero_filled(qi_only_python, subprocess_env, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(qi_only_python), *args], cwd=tmp_path, env=subprocess_env,
                              capture_output=True, text=True, timeout=300)

    proc = run("-m", "atommic_core", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    sections = json.loads(proc.stdout)
    assert sorted(p["name"] for p in sections["plugins"]) == ["core", "qi", "rec"]
    qi_models = {r["name"] for r in sections["models"] if r["distribution"] == "atommic-qi"}
    assert qi_models == {"qZeroFilled", "qRIM", "qCIRIM", "qVarNet"}

    from atommic_qi.data.demo_data import make_qi_demo_data

    make_qi_demo_data(tmp_path / "data", coils=2, size=24, volumes=(1, 1, 1), slices=1,
                      source="phantom")
    proc = run("-m", "atommic_core", "test", "--config-name", "qi_zero_filled",
               "model.data_root=data", "exp_manager.exp_dir=exp", "+exp_manager.version=t",
               "exp_manager.create_tensorboard_logger=false", "model.write_png=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "exp" / "qi_zero_filled" / "t" / "metrics.csv")))
    assert rows[-1]["fname"] == "MEAN" and 0 < float(rows[-1]["R2star_ssim"]) <= 1
