"""Artifacts: files a model needs besides its weights (vocabularies, lookup tables, masks).

A model registers a file with ``self.register_artifact("tokenizer.path", src)`` in its
``__init__``. Saving copies the file into the archive as ``<hash>_<basename>`` (``hash`` =
the first 16 hex digits of the content's sha256, so equal basenames never collide and
saving twice gives the same names) and stores ``atommic:<hash>_<basename>`` at that config
path. While an archive is being restored, :func:`resolve_artifact` maps such references to
the files extracted into the restore's temporary folder.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping

from atommic_core.errors import AtommicError, ConfigError
from atommic_core.model._archive import sha256_of_file

__all__ = [
    "ARCHIVE_PREFIX",
    "ArtifactError",
    "archive_reference",
    "member_name",
    "resolve_artifact",
    "restoring",
]

ARCHIVE_PREFIX = "atommic:"
_HASH_DIGITS = 16
_restore_files: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "atommic_restore_files", default=None
)
# (path, size, mtime_ns) -> sha256, so saving re-hashes only files that changed
_hash_cache: dict[tuple[str, int, int], str] = {}


class ArtifactError(AtommicError, FileNotFoundError):
    """An artifact file is missing or its archive reference cannot be resolved."""


def _content_hash(path: str) -> str:
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        _hash_cache[key] = sha256_of_file(path)
    return _hash_cache[key]


def member_name(path: str) -> str:
    """The archive member name of an artifact file: ``<content hash>_<basename>``.

    Args:
        path: An existing regular file.

    Returns:
        E.g. ``"3f2a9c0d1b7e4a55_tokenizer.model"``.
    """
    if not os.path.isfile(path):
        raise ArtifactError(
            f"artifact {path} is missing or not a regular file; artifacts must be files that "
            "exist when the model is saved"
        )
    return f"{_content_hash(path)[:_HASH_DIGITS]}_{os.path.basename(path)}"


def archive_reference(path: str) -> str:
    """The config value stored in an archive for an artifact file (``atommic:<member>``)."""
    return ARCHIVE_PREFIX + member_name(path)


@contextlib.contextmanager
def restoring(files: Mapping[str, str]) -> Iterator[None]:
    """Within the block, ``atommic:<member>`` references resolve to ``files[member]``.

    Args:
        files: ``{member name: extracted path}`` of the archive being restored.
    """
    token = _restore_files.set(files)
    try:
        yield
    finally:
        _restore_files.reset(token)


def is_restoring() -> bool:
    """True while a ``restore_from`` is building a model."""
    return _restore_files.get() is not None


def resolve_artifact(
    config_path: str, src: str | os.PathLike | None, verify_src_exists: bool = True
) -> str | None:
    """Turn a config value into the local path of an artifact file.

    Args:
        config_path: Dotted config key the value came from (for messages).
        src: A file path, or an ``atommic:<member>`` reference inside a restore.
        verify_src_exists: If False, a missing file gives ``None`` (an optional artifact);
            if True it is an error.

    Returns:
        An existing file path, or ``None`` for a missing optional artifact.
    """
    if src is None or src == "":
        if verify_src_exists:
            raise ConfigError(
                f"artifact {config_path!r}: expected a file path, found {src!r}; set it in the "
                "config or register the artifact with verify_src_exists=False"
            )
        return None
    src = os.fspath(src)
    if src.startswith(ARCHIVE_PREFIX):
        member = src[len(ARCHIVE_PREFIX):]
        files = _restore_files.get()
        if files is None:
            raise ArtifactError(
                f"artifact {config_path!r} is {src!r}, a reference into a .atommic archive; it "
                "only resolves inside restore_from (use the path register_artifact returned)"
            )
        if member in files:
            return files[member]
        if verify_src_exists:
            raise ArtifactError(
                f"artifact {config_path!r}: the archive has no member {member!r}; "
                f"it has {sorted(files)}"
            )
        return None
    if os.path.isfile(src):
        return src
    if verify_src_exists:
        raise ArtifactError(
            f"artifact {config_path!r}: file {src!r} does not exist; fix the path or register "
            "the artifact with verify_src_exists=False to make it optional"
        )
    return None
