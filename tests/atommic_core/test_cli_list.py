"""``python -m atommic_core list``: sections, JSON, --all, provenance of every entry."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from atommic_core import PretrainedModelInfo, hookimpl, plugins
from atommic_core.cli import main
from atommic_core.cli.listing import LIST_KINDS
from atommic_core.errors import PluginLoadWarning


@dataclass
class _Params:
    lr: float = 0.1


class _Opt:
    pass


class _Sched:
    pass


@pytest.fixture
def listed(fresh_plugins, tmp_path):
    """An in-process plugin "inproc" (distribution "inproc-dist") providing one of each."""
    (tmp_path / "inproc_config.yaml").write_text("model:\n  model_name: X\n")

    class Plugin:
        @hookimpl
        def atommic_register_optimizers(self, register):
            register("inproc_opt", _Opt, _Params)

        @hookimpl
        def atommic_register_schedulers(self, register):
            register("InprocSched", _Sched, _Params)

        @hookimpl
        def atommic_config_dirs(self):
            return [str(tmp_path)]

        @hookimpl
        def atommic_pretrained_models(self):
            return [PretrainedModelInfo("inproc_pre", "test entry", "file:///x.atommic")]

    plugins.register_plugin(Plugin(), "inproc", distribution="inproc-dist")
    return tmp_path


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["list", *argv])
    return code, capsys.readouterr().out


def test_list_all_names_the_plugin_behind_each_entry(listed, capsys):
    code, out = _run(capsys)
    assert code == 0
    lines = out.splitlines()
    for title in LIST_KINDS:
        assert f"{title}:" in lines
    plugin_line = next(line for line in lines if line.strip().startswith("inproc:"))
    assert "inproc-dist" in plugin_line
    assert "optimizers: inproc_opt" in plugin_line and "schedulers: InprocSched" in plugin_line
    assert any(line.split() == ["inproc_opt", "inproc", "inproc-dist"] for line in lines)
    assert any(line.split() == ["InprocSched", "inproc", "inproc-dist"] for line in lines)
    assert any(line.split()[:2] == ["inproc_config", "inproc"] for line in lines)
    assert any(line.split() == ["inproc_pre", "inproc", "missing", "file:///x.atommic"]
               for line in lines)
    core_line = next(line for line in lines if line.strip().startswith("core:"))
    assert "atommic-core" in core_line and "optimizers: " in core_line and "adam" in core_line


@pytest.mark.parametrize("what", ["models", "optimizers", "schedulers", "configs", "pretrained"])
def test_list_one_section_as_json(listed, capsys, what):
    code, out = _run(capsys, what, "--json")
    rows = json.loads(out)
    assert code == 0 and isinstance(rows, list)
    assert all(row["plugin"] for row in rows)
    if what != "models":
        assert any(row["plugin"] == "inproc" for row in rows)


def test_list_plugins_json_and_all(listed, capsys):
    _, out = _run(capsys, "plugins", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["inproc"]["distribution"] == "inproc-dist"
    assert set(rows["inproc"]["hooks"]) == {"atommic_register_optimizers",
                                            "atommic_register_schedulers",
                                            "atommic_config_dirs", "atommic_pretrained_models"}
    assert rows["core"]["version"] and "module" not in rows["core"]
    _, out = _run(capsys, "plugins", "--json", "--all")
    assert json.loads(out)[0]["module"] == "atommic_core._builtins"
    _, out = _run(capsys, "plugins", "--all")
    assert "module: atommic_core._builtins" in out


def test_list_all_json_has_every_section(listed, capsys):
    _, out = _run(capsys, "--json")
    sections = json.loads(out)
    assert list(sections) == list(LIST_KINDS)
    inproc = next(p for p in sections["plugins"] if p["name"] == "inproc")
    assert inproc["registers"]["optimizers"] == ["inproc_opt"]


def test_list_shows_failed_plugins_and_survives_a_broken_section(make_dist, capsys):
    make_dist("atommic-broken", "import not_a_real_module_xyz\n", ep_name="broken", version="0.3")
    clash = "from atommic_core import hookimpl\nimport torch\n\n@hookimpl\n" \
            "def atommic_register_optimizers(register):\n" \
            "    register('adam', torch.optim.Adam, None)\n"
    make_dist("atommic-clash", clash, ep_name="clash")
    with pytest.warns(PluginLoadWarning):
        code, out = _run(capsys)
    assert code == 1  # the optimizer section failed, but everything else was listed
    assert 'broken: atommic-broken 0.3  FAILED: ModuleNotFoundError' in out
    assert "registered twice" in out and "atommic-clash" in out
    assert "schedulers:" in out and "configs:" in out


def test_version_lists_plugin_distributions(listed, capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("atommic-core ") and "inproc-dist None" in out


@pytest.mark.slow
def test_example_plugin_appears_in_the_real_cli():
    """The example third-party plugin (plugins/atommic-example-plugin) as a user sees it."""
    proc = subprocess.run([sys.executable, "-m", "atommic_core", "list", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    sections = json.loads(proc.stdout)
    example = next((p for p in sections["plugins"] if p["name"] == "example"), None)
    assert example is not None, "atommic-example-plugin is not installed in this environment"
    assert example["distribution"] == "atommic-example-plugin" and example["error"] is None
    provided = [(kind, row["name"]) for kind in ("optimizers", "schedulers")
                for row in sections[kind] if row["plugin"] == "example"]
    if not example["hooks"]:
        pytest.skip("the example plugin registers nothing yet (issue 4)")
    kinds = {kind for kind, _ in provided}
    assert kinds == {"optimizers", "schedulers"}, provided
    assert all(row["distribution"] == "atommic-example-plugin" for kind in kinds
               for row in sections[kind] if row["plugin"] == "example")


def test_long_name_lists_are_shortened_unless_all(fresh_plugins, capsys):
    class Many:
        @hookimpl
        def atommic_register_optimizers(self, register):
            for i in range(9):
                register(f"many{i}", _Opt, _Params)

    plugins.register_plugin(Many(), "many", distribution="many-dist")
    _, out = _run(capsys)
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("many:"))
    assert "many5, ... (+3 more)" in line and "many8" not in line
    _, out = _run(capsys, "--all")
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("many:"))
    assert ", ".join(f"many{i}" for i in range(9)) in line


def test_closed_stdout_is_not_a_traceback(monkeypatch, tmp_path):
    """``python -m atommic_core ... | head``: the reader left early; exit quietly with 1."""
    sink = (tmp_path / "sink").open("w")

    class ClosedPipe:
        def write(self, text=""):
            raise BrokenPipeError(32, "Broken pipe")

        flush = write

        def fileno(self):
            return sink.fileno()

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    try:
        assert main([]) == 1  # usage text hits the closed pipe
    finally:
        sink.close()
