"""The ``.atommic`` file: a plain, flat tar written atomically and read defensively.

Layout (every member is a regular file at the top level)::

    manifest.json        format version, versions, sha256 of every other member
    model_config.yaml    the resolved model config, including ``target``
    model_weights.ckpt   ``torch.save`` of a ``{name: Tensor}`` state dict
    model_card.md        human-readable model card (format 2 and later)
    <hash>_<basename>    one file per registered artifact

Writing goes to a temporary file in the destination folder that is renamed at the end, so
a crash never leaves a half-written archive. Reading validates the whole member list
(types, names, sizes, checksums) before anything is extracted, and extracts only into a
temporary folder, never with ``tarfile.extractall``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from typing import IO, Any

from atommic_core.errors import AtommicError

__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "WEIGHTS_NAME",
    "ArchiveError",
    "ArchiveReader",
    "default_file_mode",
    "remove_folder",
    "replace_texts",
    "sha256_of_file",
    "temporary_folder",
    "write_archive",
]

FORMAT_NAME = "atommic"
# 2: adds model_card.md (an older reader would take it for a misnamed artifact)
FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
CONFIG_NAME = "model_config.yaml"
WEIGHTS_NAME = "model_weights.ckpt"
CARD_NAME = "model_card.md"
_CHUNK = 1 << 20


class ArchiveError(AtommicError, ValueError):
    """A ``.atommic`` file is unreadable, unsafe or inconsistent; nothing was restored."""


def sha256_of_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's content, read in 1 MiB chunks.

    Args:
        path: The file to hash.

    Returns:
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    # Fixed metadata so saving the same model twice gives byte-identical archives.
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(
    path: str | os.PathLike,
    config_yaml: str,
    weights: io.BytesIO,
    artifacts: Mapping[str, str],
    manifest: dict[str, Any],
    texts: Mapping[str, str] | None = None,
) -> str:
    """Write a ``.atommic`` archive atomically.

    Args:
        path: Destination file; its folder must exist.
        config_yaml: The model config as YAML text.
        weights: An in-memory file written by ``torch.save`` holding the state dict (kept in
            memory so the weights are written to disk once, straight into the archive).
        artifacts: ``{member name: source file}`` for every artifact.
        manifest: Manifest fields; ``files`` (sha256 per member) is filled in here.
        texts: ``{member name: text}`` of further small members (``model_card.md``).

    Returns:
        The absolute path written.
    """
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise ArchiveError(
            f"cannot save to {path}: folder {folder} does not exist; create it first"
        )
    config_bytes = config_yaml.encode("utf-8")
    text_bytes = {name: text.encode("utf-8") for name, text in sorted((texts or {}).items())}
    weights_view = weights.getbuffer()
    files = {CONFIG_NAME: hashlib.sha256(config_bytes).hexdigest(),
             WEIGHTS_NAME: hashlib.sha256(weights_view).hexdigest()}
    files.update({name: hashlib.sha256(data).hexdigest() for name, data in text_bytes.items()})
    weights_size = weights_view.nbytes
    del weights_view  # a live view would keep the BytesIO from being read below
    for name, src in sorted(artifacts.items()):
        files[name] = sha256_of_file(src)
    manifest = {**manifest, "files": files}
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")

    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w",
                                                       format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tarinfo(MANIFEST_NAME, len(manifest_bytes)), io.BytesIO(manifest_bytes))
            tar.addfile(_tarinfo(CONFIG_NAME, len(config_bytes)), io.BytesIO(config_bytes))
            weights.seek(0)
            tar.addfile(_tarinfo(WEIGHTS_NAME, weights_size), weights)
            for name, data in text_bytes.items():
                tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
            for name, src in sorted(artifacts.items()):
                with open(src, "rb") as f:
                    tar.addfile(_tarinfo(name, os.fstat(f.fileno()).st_size), f)
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600; honour the umask instead
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: ``0o666`` minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _check_member(member: tarfile.TarInfo, file_size: int, path: str) -> None:
    name = member.name
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"refusing {path}: member {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise ArchiveError(f"refusing {path}: member {name!r} points outside the archive ('..')")
    if member.issym() or member.islnk():
        raise ArchiveError(
            f"refusing {path}: member {name!r} is a {'symlink' if member.issym() else 'hardlink'}"
            "; .atommic archives hold regular files only"
        )
    if not member.isfile():
        raise ArchiveError(
            f"refusing {path}: member {name!r} is not a regular file; .atommic archives hold "
            "regular files only"
        )
    if "/" in name or "\\" in name:
        raise ArchiveError(
            f"refusing {path}: member {name!r} is in a subfolder; .atommic archives are flat"
        )
    if member.offset_data + member.size > file_size:
        raise ArchiveError(
            f"refusing {path}: the file is truncated (member {name!r} needs "
            f"{member.offset_data + member.size} bytes, file has {file_size}); download it again"
        )


class ArchiveReader:
    """Validated, read-only view of a ``.atommic`` file.

    Opening reads only the tar headers and ``manifest.json`` and checks every member (regular
    file, flat safe name, inside the file, listed in the manifest). Members are read on
    demand and verified against the manifest's sha256.

    Args:
        path: The ``.atommic`` file.

    Example:
        >>> with ArchiveReader("model.atommic") as archive:  # doctest: +SKIP
        ...     cfg_text = archive.read_text("model_config.yaml")
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise ArchiveError(f"no .atommic file at {self.path}: check the path")
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
        if compressed:
            raise ArchiveError(
                f"{self.path} is a compressed tar (an archive of the original ATOMMIC?); this "
                "atommic reads the plain-tar .atommic files that ModelPT.save_to writes"
            )
        try:
            self._tar = tarfile.open(self.path, mode="r:")
        except tarfile.TarError as exc:
            raise ArchiveError(
                f"{self.path} is not a .atommic archive (not a readable tar file: {exc}); "
                "was it truncated or saved with torch.save instead of model.save_to?"
            ) from None
        try:
            members = self._tar.getmembers()
            self.members: dict[str, tarfile.TarInfo] = {}
            for member in members:
                _check_member(member, size, self.path)
                if member.name in self.members:
                    raise ArchiveError(f"refusing {self.path}: member {member.name!r} repeats")
                self.members[member.name] = member
            self._check_end_marker(size)
            self.manifest = self._read_manifest()
        except tarfile.TarError as exc:
            self.close()
            raise ArchiveError(f"refusing {self.path}: damaged or truncated tar ({exc})") from None
        except BaseException:
            self.close()
            raise

    def _check_end_marker(self, size: int) -> None:
        # A complete tar ends with two zero blocks; without them the file was cut short.
        end = self._tar.offset
        marker = 2 * tarfile.BLOCKSIZE
        with open(self.path, "rb") as f:
            f.seek(end)
            tail = f.read(marker)
        if len(tail) < marker or tail.count(0) != marker:
            raise ArchiveError(
                f"refusing {self.path}: the file is truncated (no end-of-archive marker after "
                f"byte {end}, file has {size} bytes); download or copy it again"
            )

    def _read_manifest(self) -> dict[str, Any]:
        if MANIFEST_NAME not in self.members:
            raise ArchiveError(
                f"{self.path} has no {MANIFEST_NAME}: not a .atommic archive written by save_to"
            )
        try:
            manifest = json.loads(self._read_bytes(MANIFEST_NAME))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"{self.path}: {MANIFEST_NAME} is not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise ArchiveError(f"{self.path}: {MANIFEST_NAME} does not describe a .atommic file")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ArchiveError(
                f"{self.path} uses archive format {version!r}; this atommic-core reads up to "
                f"{FORMAT_VERSION}; upgrade with: pip install -U atommic-core"
            )
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise ArchiveError(f"{self.path}: {MANIFEST_NAME} has no 'files' checksums")
        extra = sorted(set(self.members) - set(files) - {MANIFEST_NAME})
        if extra:
            raise ArchiveError(f"refusing {self.path}: members {extra} are not in the manifest")
        for required in (CONFIG_NAME, WEIGHTS_NAME):
            if required not in self.members:
                raise ArchiveError(
                    f"refusing {self.path}: {required} is missing from the archive"
                )
        missing = sorted(set(files) - set(self.members))
        if missing:
            raise ArchiveError(f"refusing {self.path}: manifest lists missing members {missing}")
        return manifest

    # -- reading -------------------------------------------------------------------------
    def _open(self, name: str) -> IO[bytes]:
        f = self._tar.extractfile(self.members[name])
        if f is None:  # pragma: no cover - _check_member allows regular files only
            raise ArchiveError(f"{self.path}: cannot read member {name!r}")
        return f

    def _read_bytes(self, name: str) -> bytes:
        try:
            return self._open(name).read()
        except tarfile.TarError as exc:
            raise ArchiveError(f"refusing {self.path}: cannot read {name!r} ({exc})") from None

    def _verify(self, name: str, digest: str) -> None:
        expected = self.manifest["files"].get(name)
        if digest != expected:
            raise ArchiveError(
                f"refusing {self.path}: checksum mismatch for {name!r} (manifest {expected}, "
                f"content {digest}); the file is corrupted or was edited"
            )

    def read_text(self, name: str) -> str:
        """Read and verify a (small) text member.

        Args:
            name: Member name, e.g. ``"model_config.yaml"``.

        Returns:
            The member's content decoded as UTF-8.
        """
        data = self._read_bytes(name)
        self._verify(name, hashlib.sha256(data).hexdigest())
        return data.decode("utf-8")

    def extract(self, name: str, dest: str) -> str:
        """Copy one member to ``dest`` while hashing it, then verify its checksum.

        Args:
            name: Member name.
            dest: File path inside a temporary folder; its parent folder must exist.

        Returns:
            ``dest``. A file failing its checksum is deleted.
        """
        digest = hashlib.sha256()
        try:
            with self._open(name) as src, open(dest, "wb") as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
            self._verify(name, digest.hexdigest())
        except tarfile.TarError as exc:
            os.unlink(dest)
            raise ArchiveError(f"refusing {self.path}: cannot read {name!r} ({exc})") from None
        except BaseException:
            if os.path.exists(dest):
                os.unlink(dest)
            raise
        return dest

    def open_verified(self, name: str) -> IO[bytes]:
        """Check a member's checksum (one read pass), then open it for reading.

        Reading twice avoids writing a large member (the weights) to disk at all.

        Args:
            name: Member name.

        Returns:
            A seekable binary file object positioned at the member's start.
        """
        digest = hashlib.sha256()
        try:
            with self._open(name) as src:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    digest.update(chunk)
        except tarfile.TarError as exc:
            raise ArchiveError(f"refusing {self.path}: cannot read {name!r} ({exc})") from None
        self._verify(name, digest.hexdigest())
        return self._open(name)

    def artifact_names(self) -> list[str]:
        """Names of the artifact members (everything but manifest, config and weights)."""
        fixed = {MANIFEST_NAME, CONFIG_NAME, WEIGHTS_NAME, CARD_NAME}
        return sorted(n for n in self.members if n not in fixed)

    def close(self) -> None:
        """Close the underlying file."""
        self._tar.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replace_texts(path: str | os.PathLike, texts: Mapping[str, str]) -> str:
    """Rewrite an archive with some text members (e.g. the model card) added or replaced.

    Every other member is copied after its checksum is verified; the manifest's checksums are
    recomputed and the file is replaced atomically.

    Args:
        path: The ``.atommic`` file.
        texts: ``{member name: new text}``; names must not be the config or the weights.

    Returns:
        The absolute path rewritten.
    """
    if {CONFIG_NAME, WEIGHTS_NAME, MANIFEST_NAME} & set(texts):
        raise ArchiveError("replace_texts changes text members only, not config/weights/manifest")
    folder = temporary_folder("atommic_rewrite_")
    try:
        with ArchiveReader(path) as archive:
            manifest = {k: v for k, v in archive.manifest.items() if k != "files"}
            config_yaml = archive.read_text(CONFIG_NAME)
            kept = {name: archive.read_text(name) for name in archive.members
                    if name == CARD_NAME and name not in texts}
            with archive.open_verified(WEIGHTS_NAME) as f:
                weights = io.BytesIO(f.read())
            artifacts = {name: archive.extract(name, os.path.join(folder, str(i)))
                         for i, name in enumerate(archive.artifact_names())}
        manifest["format_version"] = max(FORMAT_VERSION, int(manifest.get("format_version", 1)))
        return write_archive(path, config_yaml, weights, artifacts, manifest,
                             {**kept, **texts})
    finally:
        remove_folder(folder)


def temporary_folder(prefix: str = "atommic_") -> str:
    """Create a private temporary folder (caller removes it with :func:`remove_folder`)."""
    return tempfile.mkdtemp(prefix=prefix)


def remove_folder(folder: str) -> None:
    """Remove a folder made by :func:`temporary_folder`; missing folders are fine."""
    shutil.rmtree(folder, ignore_errors=True)

