"""Pretrained models: plugin catalogue, cache, local / file:// / https:// fetching, checksums."""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import re
import urllib.request

import pytest
import torch

from atommic_core import ChecksumError, ModelPT, PretrainedModelInfo
from atommic_core.errors import UnknownNameError
from atommic_core.model import pretrained
from atommic_core.testing import BoringModel, NestedBoringModel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def archive(tmp_path):
    torch.manual_seed(0)
    model = BoringModel({"hidden": 5})
    path = model.save_to(tmp_path / "boring.atommic")
    return model, path


def _sha(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_list_available_models_filters_by_class(offer_pretrained, archive):
    _, path = archive
    a = PretrainedModelInfo("boring_a", "a boring model", path, BoringModel)
    b = PretrainedModelInfo("boring_b", "by dotted path", path, "atommic_core.testing.BoringModel")
    c = PretrainedModelInfo("nested", "a parent", path, NestedBoringModel)
    offer_pretrained(a, b, c)
    everything = ModelPT.list_available_models()
    assert {a, b, c} <= set(everything)
    assert BoringModel.list_available_models() == [a, b]
    assert NestedBoringModel.list_available_models() == [c]


@pytest.mark.parametrize("as_url", [False, True])
def test_from_pretrained_local_location(offer_pretrained, archive, cache, as_url):
    model, path = archive
    location = pathlib.Path(path).as_uri() if as_url else path
    offer_pretrained(PretrainedModelInfo("boring", "d", location, BoringModel, _sha(path)))
    restored = BoringModel.from_pretrained("boring")
    assert _same(model, restored)
    cached = pretrained.cached_path(pretrained.find_pretrained(BoringModel, "boring"))
    assert cached.startswith(str(cache)) and os.path.isfile(cached)
    assert ModelPT.from_pretrained("boring", return_config=True).hidden == 5


def test_cache_is_reused_and_refreshed(offer_pretrained, archive, cache, tmp_path):
    model, path = archive
    offer_pretrained(PretrainedModelInfo("boring", "d", path, BoringModel))
    BoringModel.from_pretrained("boring")
    # the source changes: the cache still serves the old file until refresh_cache
    torch.manual_seed(1)
    newer = BoringModel({"hidden": 5})
    newer.save_to(path)
    assert _same(model, BoringModel.from_pretrained("boring"))
    assert _same(newer, BoringModel.from_pretrained("boring", refresh_cache=True))


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_https_download_uses_urllib_and_the_cache(offer_pretrained, archive, cache, monkeypatch):
    model, path = archive
    data = pathlib.Path(path).read_bytes()
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return _Response(data)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    url = "https://example.org/models/boring.atommic"
    offer_pretrained(PretrainedModelInfo("remote", "d", url, BoringModel, _sha(path)))
    assert _same(model, ModelPT.from_pretrained("remote"))
    assert _same(model, ModelPT.from_pretrained("remote"))
    assert calls == [url]
    ModelPT.from_pretrained("remote", refresh_cache=True)
    assert calls == [url, url]
    assert os.path.basename(pretrained.cached_path(
        pretrained.find_pretrained(ModelPT, "remote"))) == "boring.atommic"


def test_checksum_mismatch_is_refused_and_not_cached(offer_pretrained, archive, cache):
    _, path = archive
    info = PretrainedModelInfo("boring", "d", path, BoringModel, "0" * 64)
    offer_pretrained(info)
    with pytest.raises(ChecksumError, match="checksum mismatch for pretrained model 'boring'"):
        BoringModel.from_pretrained("boring")
    folder = os.path.dirname(pretrained.cached_path(info))
    assert os.listdir(folder) == []  # neither the file nor a temporary is left


def test_corrupted_cache_is_fetched_again(offer_pretrained, archive, cache):
    model, path = archive
    info = PretrainedModelInfo("boring", "d", path, BoringModel, _sha(path))
    offer_pretrained(info)
    BoringModel.from_pretrained("boring")
    cached = pretrained.cached_path(info)
    pathlib.Path(cached).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="fails its checksum; fetching it again"):
        restored = BoringModel.from_pretrained("boring")
    assert _same(model, restored)
    assert _sha(cached) == _sha(path)


def test_unknown_name_suggests_close_matches(offer_pretrained, archive):
    _, path = archive
    offer_pretrained(PretrainedModelInfo("varnet_knee_4x", "d", path, BoringModel))
    with pytest.raises(UnknownNameError, match="Did you mean 'varnet_knee_4x'"):
        ModelPT.from_pretrained("varnet_knee_4")


def test_missing_local_location(offer_pretrained, cache, tmp_path):
    offer_pretrained(PretrainedModelInfo("gone", "d", str(tmp_path / "x.atommic"),
                                              BoringModel))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ModelPT.from_pretrained("gone")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ATOMMIC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert pretrained.cache_dir() == str(tmp_path / ".cache" / "atommic")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pretrained.cache_dir() == str(tmp_path / "xdg" / "atommic")
    monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(tmp_path / "mine"))
    assert pretrained.cache_dir() == str(tmp_path / "mine")


def _offer_registered(*infos) -> None:
    from atommic_core import hookimpl
    from atommic_core.plugins import register_plugin

    class Registered:
        @hookimpl
        def atommic_register_pretrained(self, register):
            for info in infos:
                register(info)

    register_plugin(Registered(), "registered")


def test_published_model_is_a_verified_offline_entry(fresh_plugins, archive, cache, capsys):
    from atommic_core.cli import main

    model, path = archive
    entry = pretrained.published_entry("boring_demo", "published by a demo", BoringModel)
    assert entry.sha256 is None and pretrained.location_state(entry) == "missing"
    published = pretrained.publish(path, "boring_demo")
    assert published == str(cache / "published" / "boring_demo.atommic")
    entry = pretrained.published_entry("boring_demo", "published by a demo", BoringModel)
    assert entry.sha256 == _sha(path) and pretrained.location_state(entry) == "local"
    _offer_registered(entry)
    assert main(["list", "pretrained"]) == 0
    assert re.search(r"boring_demo +registered +local ", capsys.readouterr().out)
    assert _same(model, ModelPT.from_pretrained("boring_demo"))
    assert pretrained.location_state(entry) == "cached"


def test_tampered_published_model_is_refused(fresh_plugins, archive, cache):
    _, path = archive
    pretrained.publish(path, "boring_demo")
    entry = pretrained.published_entry("boring_demo", "d", BoringModel)
    with open(entry.location, "ab") as f:
        f.write(b"tampered")
    _offer_registered(entry)
    with pytest.raises(ChecksumError, match="checksum mismatch for pretrained model"):
        BoringModel.from_pretrained("boring_demo")
    assert not os.path.exists(pretrained.cached_path(entry))


def test_a_name_offered_twice_names_both_plugins(offer_pretrained, archive):
    from atommic_core.errors import PluginError

    _, path = archive
    offer_pretrained(PretrainedModelInfo("twice", "a", path, BoringModel))
    _offer_registered(PretrainedModelInfo("twice", "b", path, BoringModel))
    with pytest.raises(PluginError, match=r"'twice' is offered by both plugin .* and plugin "
                                          "'registered'"):
        ModelPT.list_available_models()


def test_publish_rejects_a_bad_name(archive, cache):
    from atommic_core.errors import AtommicError

    with pytest.raises(AtommicError, match="expected a name of letters"):
        pretrained.publish(archive[1], "../evil")
