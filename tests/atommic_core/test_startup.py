"""The listing commands of the real CLI import neither torch nor Lightning (fast startup)."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs each command in one fresh interpreter and reports, per command, which heavy modules
# were loaded after it ran (cumulative: a later command cannot hide an earlier import).
_PROBE = """
import contextlib, io, json, sys
import atommic_core.registry  # alone: must not pull the model base (old import cycle)
report = {"registry": "atommic_core.model.modelpt" in sys.modules}
from atommic_core.cli import main
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    heavy = [m for m in ("torch", "lightning", "pytorch_lightning") if m in sys.modules]
    report[" ".join(argv)] = {"code": code, "heavy": heavy, "out": out.getvalue()}
print(json.dumps(report))
"""

_COMMANDS = [["list", "models"], ["list", "optimizers"], ["list", "schedulers"],
             ["list", "plugins"], ["list"]]


def test_listing_commands_do_not_import_torch_or_lightning():
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(_COMMANDS)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report.pop("registry") is False
    for command, result in report.items():
        assert result["code"] == 0, (command, result["out"])
        assert result["heavy"] == [], f"`{command}` imported {result['heavy']}"
    models = report["list models"]["out"]
    assert "VarNet" in models and "SegmentationUNet" in models  # the shipped collections
    assert "adamw" in report["list optimizers"]["out"]
    assert "CosineAnnealing" in report["list schedulers"]["out"]
