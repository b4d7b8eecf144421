"""Each collection offers its demo-trained model as an offline catalogue entry."""

from __future__ import annotations

import pytest

from atommic_core.model import pretrained

DEMO_ENTRIES = {"rec_demo_varnet": ("rec", "atommic_rec.models.VarNet"),
                "seg_demo_unet": ("seg", "atommic_seg.models.zoo.SegmentationUNet")}


@pytest.mark.parametrize("name", sorted(DEMO_ENTRIES))
def test_demo_model_entry_points_at_the_published_file(name, tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMMIC_CACHE_DIR", str(tmp_path))
    plugin, target = DEMO_ENTRIES[name]
    entries = {info.pretrained_model_name: (p, info) for p, info in pretrained.catalogue()}
    owner, info = entries[name]
    assert (owner, info.class_) == (plugin, target)
    assert info.location == str(tmp_path / "published" / f"{name}.atommic")
    assert info.sha256 is None and pretrained.location_state(info) == "missing"
    klass = pretrained.entry_class(info)
    assert klass is not None and klass.__name__ == target.rsplit(".", 1)[-1]
