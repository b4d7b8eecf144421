"""Separability: an environment with only atommic-core + atommic-seg works and knows no REC."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def run_seg(seg_only_python, subprocess_env, tmp_path):
    """Run the seg-only Python with ``args`` in a temp folder."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(seg_only_python), *args], cwd=tmp_path, env=subprocess_env,
                              capture_output=True, text=True, timeout=300)

    return run


def test_only_core_and_seg_are_installed(run_seg):
    # a set: a stray src/*.egg-info (legacy editable installs) lists a distribution twice
    code = ("import importlib.metadata as m, importlib.util as u;"
            "print(sorted({d.metadata['Name'] for d in m.distributions()"
            " if d.metadata['Name'].startswith('atommic')}));"
            "print([n for n in ('atommic_rec', 'atommic_qi', 'atommic_mtl') if u.find_spec(n)])")
    proc = run_seg("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["['atommic-core', 'atommic-seg']", "[]"]


def test_list_shows_seg_only(run_seg):
    proc = run_seg("-m", "atommic_core", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    sections = json.loads(proc.stdout)
    plugins = {p["name"]: p for p in sections["plugins"]}
    assert sorted(plugins) == ["core", "seg"]
    assert plugins["seg"]["distribution"] == "atommic-seg" and plugins["seg"]["error"] is None
    providers = {row["distribution"] for kind in ("models", "optimizers", "schedulers")
                 for row in sections[kind]}
    assert providers <= {"atommic-core", "atommic-seg"}


def test_asking_for_a_rec_model_is_a_clear_unknown_name_error(run_seg, tmp_path):
    (tmp_path / "varnet.yaml").write_text(
        "trainer:\n  max_epochs: 1\nexp_manager: {}\nmodel:\n  model_name: VarNet\n")
    proc = run_seg("-m", "atommic_core", "train",
                "--config-path", str(tmp_path), "--config-name", "varnet")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: Unknown model 'VarNet'.") and "Available:" in lines[0]
    assert "Traceback" not in proc.stderr


ROOT = Path(__file__).resolve().parents[2]
_COMMAND = re.compile(r"^\s*(python -m atommic_(?:core|seg) [^#]*?)\s*(?:#.*)?$")


def _documented_seg_commands() -> list[str]:
    """The ``python -m`` lines of docs/seg.md and of the README's segmentation quick start."""
    readme = [line for line in (ROOT / "README.md").read_text().splitlines()
              if "atommic_seg" in line or "seg_demo_unet" in line]
    found = []
    for line in [*(ROOT / "docs" / "seg.md").read_text().splitlines(), *readme]:
        match = _COMMAND.match(line)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


#: Appended to the documented commands so they take seconds (same code paths).
_SMALL = {"make-demo-data": ["--splits", "2", "1", "1", "--shape", "24", "24", "8"],
          "train": ["model.channels=4", "model.num_pool_layers=2", "trainer.max_epochs=1",
                    "+trainer.max_steps=2"]}

#: Runs ``python -m MODULE ARGS...`` commands one after the other in one interpreter (one
#: start-up instead of five); ``PATH.atommic`` is the archive the train command wrote.
_RUNNER = """
import glob, json, sys
from atommic_core.cli import main as core
from atommic_seg.__main__ import main as seg

for module, *args in json.loads(sys.argv[1]):
    archives = glob.glob("atommic_experiments/seg_demo_unet/*/checkpoints/*.atommic")
    args = [a.replace("PATH.atommic", archives[0]) if archives else a for a in args]
    code = (core if module == "atommic_core" else seg)(args)
    print("ran", module, args[0], "exit", code, flush=True)
    if code:
        sys.exit(code)
"""


def test_the_documented_seg_commands_work(run_seg, tmp_path):
    commands = [c.split()[2:] for c in _documented_seg_commands()]  # [module, verb, ...]
    verbs = [c[1] for c in commands]
    assert verbs == ["list", "make-demo-data", "train", "test", "predict"]
    runs = [[*c, *_SMALL.get(c[1], [])] for c in commands]
    proc = run_seg("-c", _RUNNER, json.dumps(runs))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.count(" exit 0") == len(runs)
    assert "Traceback" not in proc.stderr and "\nerror: " not in f"\n{proc.stderr}"
    (archive,) = tmp_path.glob("atommic_experiments/seg_demo_unet/*/checkpoints/"
                               "seg_demo_unet.atommic")  # where the docs say
    assert list(archive.parent.parent.glob("**/events.out.tfevents.*"))  # TensorBoard on
    predictions = list(tmp_path.glob("atommic_experiments/seg_demo_unet/*/predictions/*.nii.gz"))
    assert len(predictions) == 1  # the one test case
