"""Without atommic-mtl (as after ``pip uninstall atommic-mtl``) REC and SEG stay intact."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_rec_and_seg_work_without_mtl(without_mtl_python, subprocess_env, tmp_path):
    run = {"cwd": tmp_path, "env": subprocess_env, "capture_output": True, "text": True,
           "timeout": 300}
    proc = subprocess.run([str(without_mtl_python), "-m", "atommic_core", "list", "models"],
                          **run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "VarNet" in proc.stdout and "SegmentationUNet" in proc.stdout
    assert "MTLRS" not in proc.stdout and "atommic-mtl" not in proc.stdout
    assert "error" not in proc.stderr.lower()
    code = ("import importlib.util, atommic_rec.models, atommic_seg.models;"
            "assert importlib.util.find_spec('atommic_mtl') is None")
    assert subprocess.run([str(without_mtl_python), "-c", code], **run).returncode == 0
    demo = subprocess.run([str(without_mtl_python), "-m", "atommic_rec", "make-demo-data",
                           str(tmp_path / "d"), "--coils", "2", "--size", "16", "--volumes",
                           "1", "0", "0", "--slices", "1", "--source", "phantom"], **run)
    assert demo.returncode == 0, demo.stderr[-2000:]
