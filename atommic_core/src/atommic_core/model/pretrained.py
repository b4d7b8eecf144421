"""Pretrained models: the plugin-offered catalogue, a local cache, fetching and checksums.

Plugins offer entries through the ``atommic_register_pretrained(register)`` hook (or the
older ``atommic_pretrained_models()`` that returns a list). ``from_pretrained``
copies (local path, ``file://``) or downloads (``https://``, with ``urllib``) the archive
into ``$ATOMMIC_CACHE_DIR`` (default ``$XDG_CACHE_HOME/atommic`` or ``~/.cache/atommic``),
writing to a temporary name and renaming, verifies the entry's sha256 when it has one, and
reuses the cached file next time unless ``refresh_cache`` is set.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings

from atommic_core.errors import AtommicError, UnknownNameError
from atommic_core.model._archive import default_file_mode, sha256_of_file
from atommic_core.pretrained import PretrainedModelInfo

__all__ = [
    "ChecksumError",
    "cache_dir",
    "cached_path",
    "catalogue",
    "entry_class",
    "fetch",
    "find_pretrained",
    "list_pretrained",
    "location_state",
    "publish",
    "published_dir",
    "published_entry",
]

_CHUNK = 1 << 20
_TIMEOUT_S = 60


class ChecksumError(AtommicError, ValueError):
    """A fetched archive's sha256 differs from the one its pretrained entry gives."""


def cache_dir() -> str:
    """The pretrained-model cache folder (not created here).

    Returns:
        ``$ATOMMIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/atommic``, else ``~/.cache/atommic``.
    """
    if os.environ.get("ATOMMIC_CACHE_DIR"):
        return os.path.abspath(os.path.expanduser(os.environ["ATOMMIC_CACHE_DIR"]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "atommic")


def catalogue() -> list[tuple[str, PretrainedModelInfo]]:
    """Every pretrained entry the installed plugins offer, with the plugin offering it.

    Returns:
        ``(plugin name, entry)`` pairs in plugin order; a name offered twice raises
        ``PluginError`` naming both plugins.
    """
    from atommic_core.errors import PluginError
    from atommic_core.plugins import call_each

    owners: dict[str, str] = {}
    entries: list[tuple[str, PretrainedModelInfo]] = []

    def add(plugin: str, info: object, hook: str) -> None:
        if not isinstance(info, PretrainedModelInfo):
            raise AtommicError(f"plugin {plugin!r}: {hook} expected PretrainedModelInfo "
                               f"entries, found {type(info).__name__}")
        name = info.pretrained_model_name
        if name in owners:
            raise PluginError(f"pretrained model {name!r} is offered by both plugin "
                              f"{owners[name]!r} and plugin {plugin!r}; rename one")
        owners[name] = plugin
        entries.append((plugin, info))

    # call_each isolates a failing plugin (warned once) instead of hiding every entry
    for plugin, result in call_each("atommic_pretrained_models"):
        for info in result or []:
            add(plugin, info, "atommic_pretrained_models()")
    for plugin, infos in _registered():
        for info in infos:
            add(plugin, info, "atommic_register_pretrained(register)")
    return entries


def _registered() -> list[tuple[str, list[object]]]:
    """What each plugin's ``atommic_register_pretrained`` registers, plugin by plugin."""
    from atommic_core import plugins

    hook = plugins.get_plugin_manager().hook.atommic_register_pretrained
    out = []
    for impl in hook.get_hookimpls():
        staged: list[object] = []
        try:
            impl.function(*([staged.append] if impl.argnames else []))
        except Exception as exc:  # noqa: BLE001 - isolate the plugin, like an import error
            plugins.mark_failed(impl.plugin_name, exc, during="atommic_register_pretrained")
            continue
        out.append((impl.plugin_name, staged))
    return out


def _all_entries() -> list[PretrainedModelInfo]:
    return [info for _, info in catalogue()]


def entry_class(info: PretrainedModelInfo) -> type | None:
    """The entry's ``class_`` as a class (imported from an installed package if a string).

    Args:
        info: The pretrained entry.

    Returns:
        The class, or ``None`` when the entry names none or it cannot be imported.
    """
    if info.class_ is None or isinstance(info.class_, type):
        return info.class_
    from atommic_core.model._manifest import resolve_target

    try:
        return resolve_target(info.class_, f"pretrained model {info.pretrained_model_name!r}")
    except (AtommicError, ImportError):
        return None


def list_pretrained(cls: type) -> list[PretrainedModelInfo]:
    """Entries whose class is ``cls`` or a subclass (every entry when ``cls`` is ``ModelPT``).

    Args:
        cls: The class ``list_available_models`` was called on.

    Returns:
        The matching entries, in plugin order.
    """
    from atommic_core.model.modelpt import ModelPT

    entries = _all_entries()
    if cls is ModelPT:
        return entries
    out = []
    for info in entries:
        klass = entry_class(info)
        if klass is not None and issubclass(klass, cls):
            out.append(info)
    return out


def find_pretrained(cls: type, name: str) -> PretrainedModelInfo:
    """The entry called ``name`` among :func:`list_pretrained` of ``cls``.

    Args:
        cls: The class ``from_pretrained`` was called on.
        name: The ``pretrained_model_name``.

    Returns:
        The entry; an unknown name raises ``UnknownNameError`` listing close matches.
    """
    entries = list_pretrained(cls)
    for info in entries:
        if info.pretrained_model_name == name:
            return info
    names = [i.pretrained_model_name for i in entries]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"Unknown pretrained model {name!r} for {cls.__name__}.{hint} Available: "
        f"{', '.join(sorted(names)) or '(none; install a plugin that offers some)'}."
    )


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"


def cached_path(info: PretrainedModelInfo) -> str:
    """Where the cache keeps the archive of an entry (one folder per name and location).

    Args:
        info: The pretrained entry.

    Returns:
        ``<cache_dir>/<name>/<hash of location>/<basename>``.
    """
    parsed = urllib.parse.urlparse(info.location)
    basename = os.path.basename(parsed.path) or f"{info.pretrained_model_name}.atommic"
    key = hashlib.sha256(info.location.encode("utf-8")).hexdigest()[:16]
    return os.path.join(cache_dir(), _safe(info.pretrained_model_name), key, _safe(basename))


def _copy_source(location: str, dest: str) -> None:
    parsed = urllib.parse.urlparse(location)
    if parsed.scheme in ("http", "https"):
        if parsed.scheme == "http":
            warnings.warn(f"fetching {location} over plain http", UserWarning, stacklevel=4)
        with urllib.request.urlopen(location, timeout=_TIMEOUT_S) as response, \
                open(dest, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
        return
    if parsed.scheme == "file":
        src = urllib.request.url2pathname(parsed.path)
    elif parsed.scheme == "" or os.path.isabs(location):  # also C:\\ paths on Windows
        src = os.path.expanduser(location)
    else:
        raise AtommicError(
            f"pretrained location {location!r}: expected a local path, file:// or https:// URL"
        )
    if not os.path.isfile(src):
        raise FileNotFoundError(f"pretrained archive {src} does not exist (from {location!r})")
    shutil.copyfile(src, dest)


def _verify(path: str, info: PretrainedModelInfo) -> None:
    if not info.sha256:
        return
    digest = sha256_of_file(path)
    if digest != info.sha256.lower():
        raise ChecksumError(
            f"checksum mismatch for pretrained model {info.pretrained_model_name!r}: expected "
            f"sha256 {info.sha256}, found {digest} (from {info.location}); the download is "
            "corrupted or the entry is out of date"
        )


def fetch(info: PretrainedModelInfo, refresh_cache: bool = False) -> str:
    """Make sure the entry's archive is in the cache and verified; return its path.

    Args:
        info: The pretrained entry.
        refresh_cache: Fetch again even if a cached copy exists.

    Returns:
        The cached ``.atommic`` path.
    """
    dest = cached_path(info)
    if os.path.isfile(dest) and not refresh_cache:
        try:
            _verify(dest, info)
            return dest
        except ChecksumError:
            warnings.warn(f"cached {dest} fails its checksum; fetching it again",
                          UserWarning, stacklevel=3)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fetch.", suffix=".tmp", dir=os.path.dirname(dest))
    os.close(fd)
    try:
        _copy_source(info.location, tmp)
        _verify(tmp, info)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def published_dir() -> str:
    """Where trained models are published for the local catalogue: ``<cache_dir>/published``.

    A run with ``exp_manager.publish_pretrained: NAME`` copies its archive there as
    ``NAME.atommic`` with ``NAME.sha256``; collections offer such files (their demo models)
    through :func:`published_entry`.
    """
    return os.path.join(cache_dir(), "published")


def publish(archive: str | os.PathLike, name: str) -> str:
    """Copy an archive into :func:`published_dir` as ``name.atommic`` plus its sha256 file.

    Args:
        archive: The ``.atommic`` file to publish.
        name: The catalogue name (letters, digits, ``-``, ``_``, ``.``).

    Returns:
        The published archive path.
    """
    if _safe(name) != name:
        raise AtommicError(f"publish_pretrained: expected a name of letters, digits, '-', '_' "
                           f"or '.', found {name!r}")
    folder = published_dir()
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, f"{name}.atommic")
    digest = sha256_of_file(archive)
    for target, write in ((dest, lambda tmp: shutil.copyfile(archive, tmp)),
                          (f"{dest[:-8]}.sha256", lambda tmp: _write_text(
                              tmp, f"{digest}  {name}.atommic\n"))):
        fd, tmp = tempfile.mkstemp(prefix=".publish.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            write(tmp)
            os.chmod(tmp, default_file_mode())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return dest


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def published_entry(name: str, description: str, class_: object) -> PretrainedModelInfo:
    """The catalogue entry of a model published under ``name`` (see :func:`publish`).

    Args:
        name: The published name (also the ``pretrained_model_name``).
        description: What the model is and how to produce it (e.g. which demo writes it).
        class_: The model class or its dotted path.

    Returns:
        The entry; its sha256 is the one recorded at publication (``None`` until published).
    """
    path = os.path.join(published_dir(), f"{name}.atommic")
    sidecar = f"{path[:-8]}.sha256"
    sha = None
    if os.path.isfile(sidecar):
        with open(sidecar, encoding="utf-8") as f:
            sha = (f.read().split() or [None])[0]
    return PretrainedModelInfo(name, description, path, class_, sha)


def location_state(info: PretrainedModelInfo) -> str:
    """``cached``, ``local`` (the file exists), ``missing`` or ``remote``, for listings.

    Args:
        info: The pretrained entry.

    Returns:
        One word.
    """
    if os.path.isfile(cached_path(info)):
        return "cached"
    parsed = urllib.parse.urlparse(info.location)
    if parsed.scheme in ("http", "https"):
        return "remote"
    src = urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" \
        else os.path.expanduser(info.location)
    return "local" if os.path.isfile(src) else "missing"
