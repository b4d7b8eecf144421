"""Bad ``.atommic`` files are refused with clear errors and nothing lands outside a temp dir."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tarfile
import tempfile

import pytest
import torch
from omegaconf import OmegaConf

from atommic_core import ArchiveError, ModelPT
from atommic_core.testing import BoringModel


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """Run in an empty cwd with a private temp root; yields (work dir, temp root)."""
    work, temp_root = tmp_path / "work", tmp_path / "temp"
    work.mkdir()
    temp_root.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    return work, temp_root


def _good_members() -> dict[str, bytes]:
    torch.manual_seed(0)
    model = BoringModel({"hidden": 3})
    buf = io.BytesIO()
    torch.save(dict(model.state_dict()), buf)
    return {"model_config.yaml": OmegaConf.to_yaml(model.archive_config()).encode(),
            "model_weights.ckpt": buf.getvalue()}


def _write(path, members: dict[str, bytes], extra=(), manifest_files=None) -> str:
    """A tar with a consistent manifest (unless manifest_files is given) plus ``extra`` infos."""
    files = manifest_files if manifest_files is not None else {
        n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
    manifest = json.dumps({"format": "atommic", "format_version": 1, "files": files,
                           "distributions": {}}).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [("manifest.json", manifest), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return str(path)


def _assert_clean(sandbox) -> None:
    work, temp_root = sandbox
    assert os.listdir(temp_root) == [], "a temporary folder was left behind"
    assert sorted(os.listdir(work)) == [], "something was written outside the temp folder"


def test_consistent_handmade_archive_restores(sandbox, tmp_path):
    path = _write(tmp_path / "ok.atommic", _good_members())
    assert isinstance(ModelPT.restore_from(path), BoringModel)
    _assert_clean(sandbox)


@pytest.mark.parametrize("where", ["weights data", "second header", "end marker"])
def test_truncated_file(sandbox, tmp_path, where):
    torch.manual_seed(0)
    path = BoringModel({"hidden": 64}).save_to(tmp_path / "m.atommic")
    with tarfile.open(path) as tar:
        weights = tar.getmember("model_weights.ckpt")
        config = tar.getmember("model_config.yaml")
        tar.getmembers()
        end = tar.offset
    cut = {"weights data": weights.offset_data + weights.size // 2,
           "second header": config.offset + 100,
           "end marker": end + 512}[where]
    data = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(data[:cut])
    with pytest.raises(ArchiveError, match=r"truncated|damaged"):
        ModelPT.restore_from(path)
    _assert_clean(sandbox)


@pytest.mark.parametrize("content", [b"hello, this is not a tar file" * 50, b""])
def test_not_a_tar(sandbox, tmp_path, content):
    path = tmp_path / "m.atommic"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=r"not a \.atommic archive"):
        ModelPT.restore_from(path)
    _assert_clean(sandbox)


def test_plain_torch_checkpoint_is_not_an_archive(sandbox, tmp_path):
    path = tmp_path / "m.atommic"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(ArchiveError, match=r"not a \.atommic archive|no manifest"):
        ModelPT.restore_from(path)


@pytest.mark.parametrize("name, message", [
    ("../evil.txt", r"outside the archive \('\.\.'\)"),
    ("sub/../../evil.txt", r"outside the archive"),
    ("/tmp/evil.txt", r"absolute path"),
    ("sub/ok.txt", r"subfolder"),
    (".._evil.txt", r"not named <content hash>_<file name>"),
    ("0123456789abcdef_..", r"not named <content hash>_<file name>"),
])
def test_member_paths(sandbox, tmp_path, name, message):
    members = {**_good_members(), name: b"x"}
    path = _write(tmp_path / "m.atommic", members)
    with pytest.raises(ArchiveError, match=message):
        ModelPT.restore_from(path)
    assert not (tmp_path / "evil.txt").exists()
    _assert_clean(sandbox)


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_links_are_refused(sandbox, tmp_path, kind):
    info = tarfile.TarInfo("link.txt")
    info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
    info.linkname = "/etc/passwd" if kind == "symlink" else "model_config.yaml"
    path = _write(tmp_path / "m.atommic", _good_members(), extra=[info],
                  manifest_files=None)
    with pytest.raises(ArchiveError, match=kind):
        ModelPT.restore_from(path)
    _assert_clean(sandbox)


def test_directory_member_is_refused(sandbox, tmp_path):
    info = tarfile.TarInfo("folder")
    info.type = tarfile.DIRTYPE
    path = _write(tmp_path / "m.atommic", _good_members(), extra=[info])
    with pytest.raises(ArchiveError, match="not a regular file"):
        ModelPT.restore_from(path)


def test_missing_weights(sandbox, tmp_path):
    members = _good_members()
    del members["model_weights.ckpt"]
    path = _write(tmp_path / "m.atommic", members)
    with pytest.raises(ArchiveError, match=r"model_weights\.ckpt is missing"):
        ModelPT.restore_from(path)
    _assert_clean(sandbox)


class _Payload:
    """Unpickling this would create a marker file (proves no code from the archive runs)."""

    marker = ""

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("payload", ["object", "not_a_dict"])
def test_pickled_objects_are_refused(sandbox, tmp_path, payload):
    members = _good_members()
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    if payload == "object":
        _Payload.marker = str(marker)
        torch.save({"head.weight": _Payload()}, buf)
        message = "pickled objects other than tensors"
    else:
        torch.save([torch.zeros(2)], buf)
        message = r"must hold a \{name: Tensor\} state dict"
    members["model_weights.ckpt"] = buf.getvalue()
    path = _write(tmp_path / "m.atommic", members)
    with pytest.raises(ArchiveError, match=message):
        ModelPT.restore_from(path)
    assert not marker.exists()
    _assert_clean(sandbox)


@pytest.mark.parametrize("member", ["model_config.yaml", "model_weights.ckpt"])
def test_checksum_mismatch(sandbox, tmp_path, member):
    members = _good_members()
    files = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
    tampered = bytearray(members[member])
    tampered[len(tampered) // 2] ^= 0xFF
    members[member] = bytes(tampered)
    path = _write(tmp_path / "m.atommic", members, manifest_files=files)
    with pytest.raises(ArchiveError, match=f"checksum mismatch for '{member}'"):
        ModelPT.restore_from(path)
    _assert_clean(sandbox)


def test_member_missing_from_manifest(sandbox, tmp_path):
    members = _good_members()
    files = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
    members["abc_extra.txt"] = b"smuggled"
    path = _write(tmp_path / "m.atommic", members, manifest_files=files)
    with pytest.raises(ArchiveError, match=r"\['abc_extra.txt'\] are not in the manifest"):
        ModelPT.restore_from(path)


def test_newer_format_version_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "m.atommic"
    manifest = json.dumps({"format": "atommic", "format_version": 99, "files": {}}).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    with pytest.raises(ArchiveError, match="pip install -U atommic-core"):
        ModelPT.restore_from(path)


def test_missing_file(tmp_path):
    with pytest.raises(ArchiveError, match=r"no \.atommic file at"):
        ModelPT.restore_from(tmp_path / "nope.atommic")


def test_compressed_tar_is_explained(tmp_path):
    path = tmp_path / "old.atommic"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("model_config.yaml")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ArchiveError, match="compressed tar"):
        ModelPT.restore_from(path)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_archive_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = BoringModel({"hidden": 2}).save_to(tmp_path / "m.atommic")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # was 0o600 whatever the umask
