"""The hook specifications are the public plugin API: names, signatures, markers, imports."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import atommic_core
from atommic_core import hookspecs

# ARCHITECTURE.md section 3.1, verbatim: changing these breaks every third-party plugin.
PUBLIC_HOOKS = {
    "atommic_register_models": ["register"],
    "atommic_register_optimizers": ["register"],
    "atommic_register_schedulers": ["register"],
    "atommic_register_pretrained": ["register"],
    "atommic_pretrained_models": [],
    "atommic_config_dirs": [],
}


def test_hook_names_and_signatures_are_the_documented_api():
    specs = {name: list(inspect.signature(getattr(hookspecs, name)).parameters)
             for name in hookspecs._spec_names()}
    assert specs == PUBLIC_HOOKS


def test_every_spec_is_marked_for_the_atommic_project():
    for name in PUBLIC_HOOKS:
        assert hasattr(getattr(hookspecs, name), "atommic_spec"), name
    assert hookspecs.PROJECT_NAME == "atommic"
    assert atommic_core.hookimpl is hookspecs.hookimpl
    assert hookspecs.hookimpl.project_name == "atommic"


def test_hookspecs_imports_only_pluggy_at_run_time():
    tree = ast.parse(inspect.getsource(hookspecs))
    runtime: set[str] = set()
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks are types only
        if isinstance(node, ast.Import):
            runtime.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            runtime.add(node.module.split(".")[0])
    assert runtime - set(sys.stdlib_module_names) == {"pluggy"}


def test_importing_hookspecs_stays_light():
    code = ("import sys, atommic_core.hookspecs;"
            "print(sorted(m for m in sys.modules if m.startswith(('atommic', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['atommic_core', 'atommic_core.hookspecs', 'atommic_core.pretrained']"


def test_pretrained_model_info_rejects_bad_fields():
    import pytest

    from atommic_core import PretrainedModelInfo

    ok = PretrainedModelInfo("name", "desc", "file:///m.atommic", sha256="A" * 64)
    assert ok.class_ is None
    for kwargs, field in [({"pretrained_model_name": ""}, "pretrained_model_name"),
                          ({"location": None}, "location"),
                          ({"sha256": "xyz"}, "sha256")]:
        args = {"pretrained_model_name": "n", "description": "d", "location": "/m.atommic",
                **kwargs}
        with pytest.raises(ValueError, match=f"PretrainedModelInfo.{field}: expected"):
            PretrainedModelInfo(**args)
