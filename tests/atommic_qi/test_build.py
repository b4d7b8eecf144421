"""build_qi_dataset: the default chain, keys inherited from the model, config errors."""

import pytest
import torch

from atommic_core.errors import ConfigError
from atommic_qi.data import build_qi_dataset, default_qi_transform_config

MASK_ARGS = {"type": "gaussian2d", "accelerations": [4], "center_fractions": [0.25]}


def test_default_chain_names_and_order():
    chain = default_qi_transform_config({"crop_size": [8, 8], "mask_args": MASK_ARGS}, "train")
    assert [c["name"] for c in chain] == [
        "qi_crop", "mask", "qi_sensitivity_maps", "target", "initial_image", "qi_target_maps",
        "qi_anatomy_mask", "qi_normalize", "qi_finalize"]
    assert chain[1]["use_seed"] is False  # training masks: a seeded generator
    assert default_qi_transform_config({}, "test")[0]["use_seed"] is True


def test_split_inherits_the_models_signal_model_and_ranges(tmp_path, write_qi_volume):
    truth = write_qi_volume(tmp_path / "v.h5", targets=None)
    model = {"signal_model": "atommic_megre", "map_ranges": {"R2star": [0.0, 30.0]}}
    item = build_qi_dataset({"data_path": str(tmp_path), "normalize": "none"}, "test",
                            model_cfg=model)[0]
    assert item["qmaps_target"][0].max() <= 30.0
    brain = item["anatomy_mask"] > 0
    s0c = truth[0, 1] * torch.exp(1j * truth[0, 3])  # megre: S0 + i phi = S0 e^{i phi}
    torch.testing.assert_close(item["qmaps_target"][3][brain], s0c.imag[brain], rtol=1e-3,
                               atol=1e-3)
    with pytest.raises(ConfigError, match=r"signal_model='gre' contradicts "
                                          r"model.signal_model='atommic_megre'"):
        build_qi_dataset({"data_path": str(tmp_path), "signal_model": "gre"}, "test",
                         model_cfg=model)


def test_config_errors_are_one_line(tmp_path, write_qi_volume):
    with pytest.raises(ConfigError, match=r"expected 'data_path'.*make-demo-data"):
        build_qi_dataset({}, "train")
    with pytest.raises(ConfigError, match="does not exist"):
        build_qi_dataset({"data_path": str(tmp_path / "nope")}, "train")
    write_qi_volume(tmp_path / "v.h5")
    with pytest.raises(ConfigError, match="test data: TEs: expected at least 2 positive"):
        build_qi_dataset({"data_path": str(tmp_path), "TEs": [5.0]}, "test")


def test_split_folders_are_found_under_a_root(tmp_path, write_qi_volume):
    (tmp_path / "val").mkdir()
    write_qi_volume(tmp_path / "val" / "v.h5")
    ds = build_qi_dataset({"data_path": str(tmp_path), "mask_args": MASK_ARGS}, "validation")
    assert [v.path.name for v in ds.volumes] == ["v.h5"]
