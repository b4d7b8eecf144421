"""Meta-tests of STYLE.md rule 14: the plugin API, imports, file sizes and import arrows.

One ``test_hook_<name>`` per hookspec drives that hook through a throwaway plugin; a test
checks none is missing. Import checks run in subprocesses so this process stays unaffected.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from atommic_core import PretrainedModelInfo, hookimpl, hookspecs, plugins, registry

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ("atommic_core", "atommic_rec", "atommic_seg", "atommic_qi", "atommic_mtl")
# Which atommic packages each distribution may import (ARCHITECTURE.md section 2).
ALLOWED = {
    "atommic_core": {"atommic_core"},
    "atommic_rec": {"atommic_core", "atommic_rec"},
    "atommic_seg": {"atommic_core", "atommic_seg"},
    "atommic_qi": {"atommic_core", "atommic_rec", "atommic_qi"},
    "atommic_mtl": {"atommic_core", "atommic_rec", "atommic_seg", "atommic_mtl"},
}
MAX_LINES = 600


def _source_roots() -> dict[str, Path]:
    """``{package: src folder}`` for the five collections and every plugin under plugins/."""
    roots = {name: ROOT / name / "src" / name for name in COLLECTIONS}
    for src in sorted(ROOT.glob("plugins/*/src")):
        for package in sorted(p for p in src.iterdir() if (p / "__init__.py").is_file()):
            roots[package.name] = package
    return roots


def _allowed(package: str) -> set[str]:
    return ALLOWED.get(package, {"atommic_core", package})  # plugins/ import only the core


def _modules(package: str, folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _atommic_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every atommic package a module imports: statements anywhere, import_module("...")."""
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in
              ("import_module", "__import__")):
            names = [node.args[0].value]
        found += [(node.lineno, n.split(".")[0]) for n in names if n.startswith("atommic")]
    return found


# -- one test per hook ------------------------------------------------------------------------


@dataclass
class _Params:
    lr: float = 0.1


class _Thing:
    pass


def test_hook_atommic_register_models(fresh_plugins):
    from atommic_core.testing import BoringModel

    class MetaModel(BoringModel):
        pass

    class Plugin:
        @hookimpl
        def atommic_register_models(self, register):
            register("MetaModel", MetaModel)

    plugins.register_plugin(Plugin(), "meta", distribution="meta-dist")
    entry = registry.models.entry("MetaModel")
    assert (entry.obj, entry.plugin, entry.distribution) == (MetaModel, "meta", "meta-dist")


def test_hook_atommic_register_optimizers(fresh_plugins):
    class Plugin:
        @hookimpl
        def atommic_register_optimizers(self, register):
            register("meta_opt", _Thing, _Params)

    plugins.register_plugin(Plugin(), "meta")
    entry = registry.optimizers.entry("meta_opt")
    assert (entry.obj, entry.params, entry.plugin) == (_Thing, _Params, "meta")


def test_hook_atommic_register_schedulers(fresh_plugins):
    class Plugin:
        @hookimpl
        def atommic_register_schedulers(self, register):
            register("MetaSched", _Thing, _Params)

    plugins.register_plugin(Plugin(), "meta")
    entry = registry.schedulers.entry("MetaSched")
    assert (entry.obj, entry.params, entry.plugin) == (_Thing, _Params, "meta")


def test_hook_atommic_pretrained_models(fresh_plugins):
    from atommic_core.cli.listing import collect

    info = PretrainedModelInfo("meta_pretrained", "A test entry.", "file:///nowhere.atommic")

    class Plugin:
        @hookimpl
        def atommic_pretrained_models(self):
            return [info]

    plugins.register_plugin(Plugin(), "meta")
    results = dict(plugins.call_each("atommic_pretrained_models"))
    assert results["meta"] == [info]
    (row,) = [r for r in collect("pretrained")["pretrained"] if r["name"] == "meta_pretrained"]
    assert row == {"name": "meta_pretrained", "plugin": "meta", "description": "A test entry.",
                   "location": "file:///nowhere.atommic", "sha256": None, "state": "missing"}


def test_hook_atommic_register_pretrained(fresh_plugins, tmp_path):
    from atommic_core.cli.listing import collect

    (tmp_path / "m.atommic").write_bytes(b"x")
    info = PretrainedModelInfo("meta_registered", "Registered.", str(tmp_path / "m.atommic"))

    class Plugin:
        @hookimpl
        def atommic_register_pretrained(self, register):
            register(info)

    plugins.register_plugin(Plugin(), "meta")
    from atommic_core.model.pretrained import catalogue

    assert ("meta", info) in catalogue()
    (row,) = [r for r in collect("pretrained")["pretrained"] if r["name"] == "meta_registered"]
    assert (row["plugin"], row["state"]) == ("meta", "local")


def test_hook_atommic_config_dirs(fresh_plugins, tmp_path):
    from atommic_core.cli.config import find_config_dir
    from atommic_core.cli.listing import collect

    (tmp_path / "meta_config.yaml").write_text("model:\n  model_name: X\n")

    class Plugin:
        @hookimpl
        def atommic_config_dirs(self):
            return [str(tmp_path)]

    plugins.register_plugin(Plugin(), "meta")
    assert find_config_dir(None, "meta_config") == tmp_path
    rows = collect("configs")["configs"]
    assert {"name": "meta_config", "plugin": "meta",
            "path": str(tmp_path / "meta_config.yaml")} in rows


def test_every_hookspec_has_a_test():
    missing = [n for n in hookspecs._spec_names() if f"test_hook_{n}" not in globals()]
    assert not missing, f"add test_hook_<name> to tests/test_meta.py for: {missing}"


def test_every_hookspec_documents_args_returns_and_called():
    problems = []
    for name in hookspecs._spec_names():
        func = getattr(hookspecs, name)
        doc = textwrap.dedent("\n".join((func.__doc__ or "").splitlines()[1:]))
        params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
        args_block = re.search(r"^Args:\n((?:[ \t]+.*\n?)+)", doc, re.M)
        documented = re.findall(r"^    (\w+):", args_block.group(1), re.M) if args_block else []
        if documented != params:
            problems.append(f"{name}: Args {documented} != signature {params}")
        if not params and not re.search(r"^Returns:\n", doc, re.M):
            problems.append(f"{name}: no Returns: section")
        if not re.search(r"^Called:\n[ \t]+\S", doc, re.M):
            problems.append(f"{name}: no Called: section")
    assert not problems, problems


# -- imports ---------------------------------------------------------------------------------

_IMPORT_EACH = r"""
import importlib, json, os, sys, traceback
# Preload heavy third-party packages once (also under -W error), then import each atommic
# module in a forked child, so every module is imported alone with respect to atommic.
preload = {}
for name in ("numpy", "torch", "pytorch_lightning", "omegaconf", "hydra", "scipy", "h5py"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        pass
    except Exception:
        preload[name] = traceback.format_exc(limit=3)
failures = {}
for module in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(module)
            out = b""
        except BaseException:
            out = traceback.format_exc(limit=4).encode()[-3000:]
        os.write(w, out)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        out = reader.read()
    os.waitpid(pid, 0)
    if out:
        failures[module] = out.decode(errors="replace")
print(json.dumps({"preload": preload, "failures": failures}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_each_module_imports_alone_with_warnings_as_errors():
    modules = [m for package, folder in _source_roots().items() for m in _modules(package, folder)]
    proc = subprocess.run([sys.executable, "-W", "error", "-c", _IMPORT_EACH, *modules],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["preload"], f"third-party import warns or fails: {report['preload']}"
    assert not report["failures"], "\n\n".join(f"{m}:\n{t}" for m, t in
                                               report["failures"].items())


def test_no_imports_against_the_arrows():
    wrong = []
    for package, folder in _source_roots().items():
        for path in sorted(folder.rglob("*.py")):
            for line, name in _atommic_imports(ast.parse(path.read_text(), str(path))):
                if name not in _allowed(package):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, f"imports against the arrows (ARCHITECTURE.md section 2): {wrong}"


def test_arrow_scanner_sees_every_kind_of_import():
    source = ("import atommic_rec\nfrom atommic_seg.nets import x\ndef f():\n"
              "    import atommic_qi.plugin\n    importlib.import_module('atommic_mtl')\n")
    names = [n for _, n in _atommic_imports(ast.parse(source))]
    assert sorted(names) == ["atommic_mtl", "atommic_qi", "atommic_rec", "atommic_seg"]


def test_distribution_dependencies_follow_the_arrows():
    tomllib = pytest.importorskip("tomllib")
    pyprojects = [ROOT / c / "pyproject.toml" for c in COLLECTIONS]
    pyprojects += sorted(ROOT.glob("plugins/*/pyproject.toml"))
    wrong = []
    for path in pyprojects:
        project = tomllib.loads(path.read_text())["project"]
        package = path.parent.name if path.parent.name in ALLOWED else "plugin"
        allowed = {p.replace("_", "-") for p in _allowed(package)}
        for requirement in project.get("dependencies", []):
            dist = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].strip().lower()
            if dist.startswith("atommic") and dist not in allowed:
                wrong.append(f"{project['name']} depends on {dist}")
    assert not wrong, wrong


def test_no_source_file_over_600_lines():
    too_long = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "build", "__pycache__"))]
        for filename in filenames:
            if filename.endswith(".py"):
                path = Path(dirpath) / filename
                with path.open("rb") as handle:
                    lines = sum(1 for _ in handle)
                if lines > MAX_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, f"split these files (limit {MAX_LINES} lines): {too_long}"


_HEAVY = ("torch", "pytorch_lightning", "lightning", "hydra", "omegaconf", "numpy")
_PROBE = """
import runpy, sys
sys.argv = ["atommic_core", *sys.argv[1:]]
try:
    runpy.run_module("atommic_core", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print("HEAVY=" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))))
""".replace("HEAVY_NAMES", repr(_HEAVY))


def _heavy_modules_after(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True,
                          text=True, timeout=120, check=True)
    return proc.stdout.strip().splitlines()[-1]


def test_help_does_not_import_torch():
    assert _heavy_modules_after("--help") == "HEAVY="
    assert _heavy_modules_after("train", "--help") == "HEAVY="


_COLLECTION_ENTRY_POINTS = """
import sys
from importlib import metadata
for ep in metadata.entry_points(group="atommic"):
    if ep.dist is not None and ep.dist.name in DISTS:
        ep.load()
print("HEAVY=" + ",".join(sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY_NAMES))))
""".replace("HEAVY_NAMES", repr(_HEAVY))


def test_collection_entry_points_do_not_import_torch():
    """STYLE rule 4: a collection's plugin.py keeps heavy imports inside the hook functions."""
    dists = repr({c.replace("_", "-") for c in COLLECTIONS})
    proc = subprocess.run([sys.executable, "-c", _COLLECTION_ENTRY_POINTS.replace("DISTS", dists)],
                          capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


# -- docstrings (STYLE rule 12) ---------------------------------------------------------------


def _documented_args(doc: str) -> list[str] | None:
    """Names in a Google ``Args:`` section, in order; None when there is no such section."""
    match = re.search(r"^Args:[ \t]*\n", doc, re.M)
    if match is None:
        return None
    names = []
    for line in doc[match.end():].splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the next section
        found = re.match(r"^    \*{0,2}(\w+)(?: \([^)]*\))?:", line)
        if found:
            names.append(found.group(1))
    return names


def _args_drift(tree: ast.AST) -> list[tuple[int, str, list[str], list[str]]]:
    drift = []
    methods = {id(n) for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for n in c.body}
    for node in ast.walk(tree):
        func = node
        if isinstance(node, ast.ClassDef):  # a class documents its __init__ arguments
            func = next((n for n in node.body if isinstance(n, ast.FunctionDef)
                         and n.name == "__init__"), None)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        documented = _documented_args(ast.get_docstring(node) or "")
        if func is None or documented is None:
            continue
        a = func.args
        ordered = (*a.posonlyargs, *a.args, a.vararg, *a.kwonlyargs, a.kwarg)  # signature order
        params = [p.arg for p in ordered if p is not None]
        if params and params[0] in ("self", "cls") and id(func) in methods:
            params = params[1:]
        if documented != params:
            drift.append((node.lineno, node.name, documented, params))
    return drift


def test_docstring_args_match_signatures():
    drift = []
    for folder in _source_roots().values():
        for path in sorted(folder.rglob("*.py")):
            for line, name, documented, params in _args_drift(ast.parse(path.read_text())):
                drift.append(f"{path.relative_to(ROOT)}:{line} {name}: Args {documented} "
                             f"!= signature {params}")
    assert not drift, "docstring Args: drifted from the signature:\n" + "\n".join(drift)


def test_args_drift_checker_catches_drift():
    source = textwrap.dedent('''
    def ok(a, *rest, b=1, **extra):
        """Summary.

        Args:
            a: The a.
            *rest: More.
            b (int): The b.
            **extra: Even more.

        Returns:
            Nothing.
        """

    class Thing:
        """A thing.

        Args:
            size: How big.
        """

        def __init__(self, size, colour):
            pass

        def renamed(self, new_name):
            """Do it.

            Args:
                old_name: Renamed since.
            """
    ''')
    assert [(name, doc, sig) for _, name, doc, sig in _args_drift(ast.parse(source))] == [
        ("Thing", ["size"], ["size", "colour"]),
        ("renamed", ["old_name"], ["new_name"]),
    ]
