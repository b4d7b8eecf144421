"""Fixtures that build separate Python environments for integration tests.

``seg_only_python`` (session scope) is the path of a Python executable in a virtual
environment holding **only atommic-core and atommic-seg** (editable) plus the third-party
packages of the main environment. Reuse it for any test that must prove a collection works
without the others, e.g.::

    def test_something(seg_only_python, subprocess_env, tmp_path):
        proc = subprocess.run([str(seg_only_python), "-m", "atommic_core", "list"],
                              cwd=tmp_path, env=subprocess_env, capture_output=True, text=True)

Run it with ``cwd`` outside the repository (the repository root holds ``atommic_rec/``, which
Python would import from the current directory as a namespace package) and with the
``subprocess_env`` fixture (no ``PYTHONPATH``/``VIRTUAL_ENV`` leaking in from the main
environment).

How it stays fast (a few seconds cold, instant warm): ``python -m venv --without-pip``, then a
``.pth`` file that adds a folder of symlinks to every entry of the main environment's
site-packages **except** atommic distributions, their editable hooks and any other
distribution with ``atommic`` entry points; then ``pip install --no-deps
--no-build-isolation -e atommic_core -e atommic_seg``. The environment is cached in pytest's
cache folder, keyed on the Python version, the main environment's package list and the two
pyproject files, and built under a file lock (fcntl, so POSIX only) so pytest-xdist workers
share one build.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEG_ONLY_DISTRIBUTIONS = ("atommic_core", "atommic_seg")
QI_ONLY_DISTRIBUTIONS = ("atommic_core", "atommic_rec", "atommic_qi")
_READY = "atommic-env-ready"


def clean_env(**extra: str) -> dict[str, str]:
    """``os.environ`` without variables that would leak the main environment into a child."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def _is_atommic(entry: Path) -> bool:
    """True for entries that would make an atommic distribution or plugin visible."""
    name = entry.name.lower()
    if name.startswith("atommic") or (name.startswith("__editable__") and "atommic" in name):
        return True
    if name.endswith(".pth") and "atommic" in entry.read_text(errors="replace").lower():
        return True
    eps = entry / "entry_points.txt"
    return name.endswith(".dist-info") and eps.is_file() and "[atommic]" in eps.read_text()


def _shared_entries(site: Path) -> list[Path]:
    return sorted(e for e in site.iterdir() if e.name != "__pycache__" and not _is_atommic(e))


def _env_key(site: Path, entries: list[Path],
             distributions: tuple[str, ...] = SEG_ONLY_DISTRIBUTIONS) -> str:
    digest = hashlib.sha256(f"{sys.version}\n{site}\n".encode())
    digest.update("\n".join(e.name for e in entries).encode())
    for dist in distributions:
        digest.update((ROOT / dist / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def _build(env_dir: Path, site: Path, entries: list[Path],
           distributions: tuple[str, ...] = SEG_ONLY_DISTRIBUTIONS) -> None:
    if env_dir.exists():  # a build that died half-way
        shutil.rmtree(env_dir)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    farm = env_dir / "shared-site-packages"
    farm.mkdir()
    for entry in entries:
        (farm / entry.name).symlink_to(entry)
    purelib = subprocess.run([str(python), "-c", "import sysconfig;"
                              "print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # `import` lines in a .pth run at start-up; addsitedir also honours the farm's own .pth
    (Path(purelib) / "zz_atommic_shared.pth").write_text(
        f"import site; site.addsitedir({str(farm)!r})\n")
    editable = [arg for dist in distributions for arg in ("-e", str(ROOT / dist))]
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--disable-pip-version-check", *editable],
                   check=True, cwd=env_dir, env=clean_env(), capture_output=True)
    (env_dir / _READY).write_text("ok\n")


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment variables for a child Python of another environment (see :func:`clean_env`)."""
    return clean_env()


def _cached_python(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   name: str, distributions: tuple[str, ...]) -> Path:
    site = Path(sysconfig.get_path("purelib"))  # the main environment's, from sys.prefix
    entries = _shared_entries(site)
    cache = getattr(request.config, "cache", None)
    base = cache.mkdir(name) if cache else tmp_path_factory.getbasetemp().parent
    key = _env_key(site, entries, distributions)
    env_dir = Path(base) / f"venv-{key}"
    with (Path(base) / f"venv-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one xdist worker builds, the others wait; freed on close
        if not (env_dir / _READY).is_file():
            _build(env_dir, site, entries, distributions)
    return env_dir / "bin" / "python"


@pytest.fixture(scope="session")
def seg_only_python(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Python of a cached venv with only atommic-core + atommic-seg installed (see module doc).

    Returns:
        Path of the environment's ``bin/python``.
    """
    return _cached_python(request, tmp_path_factory, "seg_only_env", SEG_ONLY_DISTRIBUTIONS)


@pytest.fixture(scope="session")
def without_mtl_python(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Python of a cached venv with atommic-core, -rec and -seg but not atommic-mtl.

    What is left after ``pip uninstall atommic-mtl`` (built the same way as
    :func:`seg_only_python`).

    Returns:
        Path of the environment's ``bin/python``.
    """
    return _cached_python(request, tmp_path_factory, "without_mtl_env",
                          ("atommic_core", "atommic_rec", "atommic_seg"))


@pytest.fixture(scope="session")
def qi_only_python(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``seg_only_python`` with only atommic-core + atommic-rec + atommic-qi (no seg).

    Returns:
        Path of the environment's ``bin/python``.
    """
    return _cached_python(request, tmp_path_factory, "qi_only_env", QI_ONLY_DISTRIBUTIONS)
