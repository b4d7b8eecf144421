"""Property-based fuzzing of the .atommic reader: any input is a valid model or an ArchiveError.

Examples are derandomized (the same corpus every run) and bounded so CI stays fast; the
budget per target is ``settings.max_examples`` below.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from atommic_core import ArchiveError, ModelPT
from atommic_core.errors import AtommicError
from atommic_core.testing import BoringModel

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _valid_archive() -> bytes:
    torch.manual_seed(0)
    model = BoringModel({"hidden": 2})
    buf = io.BytesIO()
    torch.save(dict(model.state_dict()), buf)
    members = {"model_config.yaml": OmegaConf.to_yaml(model.archive_config()).encode(),
               "model_weights.ckpt": buf.getvalue()}
    return _tar(members)


def _tar(members: dict[str, bytes], manifest_files: dict | None = None) -> bytes:
    files = manifest_files if manifest_files is not None else {
        n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
    manifest = json.dumps({"format": "atommic", "format_version": 1, "files": files,
                           "distributions": {}}).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [("manifest.json", manifest), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


VALID = _valid_archive()


def _restore(tmp_path, data: bytes) -> None:
    path = tmp_path / "fuzz.atommic"
    path.write_bytes(data)
    try:
        model = ModelPT.restore_from(str(path))
    except AtommicError as exc:  # ArchiveError, MissingDistributionError, ConfigError...
        assert str(exc).strip() and "\n" not in str(exc).strip(), repr(exc)
        return
    assert isinstance(model, ModelPT)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(tmp_path, data):
    _restore(tmp_path, data)


@FUZZ
@given(st.integers(0, len(VALID) - 1))
def test_truncated_archive(tmp_path, cut):
    _restore(tmp_path, VALID[:cut])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)),
                min_size=1, max_size=8))
def test_corrupted_bytes(tmp_path, edits):
    data = bytearray(VALID)
    for where, value in edits:
        data[where] = value
    _restore(tmp_path, bytes(data))


_NAMES = st.sampled_from(["model_config.yaml", "model_weights.ckpt", "manifest.json",
                          "../evil", "/abs", "a/b.bin", "x" * 120, "weights.pt", ""])


@FUZZ
@given(st.dictionaries(_NAMES, st.binary(max_size=256), max_size=4),
       st.one_of(st.none(), st.dictionaries(_NAMES, st.text(max_size=64), max_size=3)))
def test_generated_tar_members(tmp_path, members, manifest_files):
    members = {k: v for k, v in members.items() if k and k != "manifest.json"}
    try:
        data = _tar(members, manifest_files)
    except (ValueError, tarfile.TarError):
        return
    _restore(tmp_path, data)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.text(max_size=8),
                   st.lists(st.integers(-2, 5), max_size=3))


@FUZZ
@given(st.sampled_from(["atommic_core.testing.BoringModel", "os.system", "no.such.Module",
                        "atommic_core.errors.ConfigError", "", "3"]),
       st.dictionaries(st.sampled_from(["hidden", "in_features", "out_features", "optim",
                                        "train_ds", "freeze_updates"]), _VALUES, max_size=3))
def test_generated_configs(tmp_path, target, keys):
    state = io.BytesIO()
    torch.save({"w": torch.zeros(1)}, state)
    config = OmegaConf.to_yaml(OmegaConf.create({"target": target, **keys})).encode()
    _restore(tmp_path, _tar({"model_config.yaml": config, "model_weights.ckpt": state.getvalue()}))


def test_the_fuzz_corpus_reaches_valid_and_invalid(tmp_path):
    _restore(tmp_path, VALID)  # the seed archive itself restores
    try:
        _restore(tmp_path, VALID[:100])
    except AssertionError:  # pragma: no cover - _restore asserts on bad errors only
        raise
    path = tmp_path / "fuzz.atommic"
    path.write_bytes(VALID[:100])
    try:
        ModelPT.restore_from(str(path))
    except ArchiveError:
        return
    raise AssertionError("a truncated archive restored")
