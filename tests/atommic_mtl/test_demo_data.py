"""Joint demo data: REC's layout plus tissue labels on the same slices, seeded."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from atommic_mtl.data.demo_data import make_demo_data
from atommic_rec.physics import ifft2, sense_reduce


def test_layout_labels_and_consistency(mtl_data):
    record = json.loads((mtl_data / "demo_data.json").read_text())
    assert record["classes"] == ["background", "csf", "grey_matter", "white_matter"]
    assert record["files"]["train"] == ["train/mtl_train_000.h5", "train/mtl_train_001.h5"]
    with h5py.File(mtl_data / "train" / "mtl_train_000.h5") as f:
        kspace, maps = f["kspace"][()], f["sensitivity_map"][()]
        labels, target = f["segmentation"][()], f["reconstruction_sense"][()]
        assert f.attrs["spacing"].tolist() == [2.0, 200 / 32, 200 / 32]
    assert kspace.shape == (3, 2, 32, 32) and labels.shape == (3, 32, 32)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1, 2, 3}
    import torch

    sense = sense_reduce(ifft2(torch.from_numpy(kspace)), torch.from_numpy(maps)).abs().numpy()
    np.testing.assert_allclose(sense, target, atol=1e-5)
    # the labels describe these slices: tissue where the image is bright, background where dark
    tissue = labels >= 2
    assert tissue.mean() > 0.1
    assert target[tissue].mean() > 3 * target[labels == 0].mean()


def test_same_seed_same_files_other_seed_other_slabs(tmp_path):
    kw = {"coils": 2, "size": 24, "volumes": (1, 0, 0), "slices": 2, "source": "phantom"}
    make_demo_data(tmp_path / "a", seed=3, **kw)
    make_demo_data(tmp_path / "b", seed=3, **kw)
    make_demo_data(tmp_path / "c", seed=4, **kw)
    read = {}
    for name in "abc":
        with h5py.File(tmp_path / name / "train" / "mtl_train_000.h5") as f:
            read[name] = (f["kspace"][()], f["segmentation"][()])
    assert np.array_equal(read["a"][0], read["b"][0]) and np.array_equal(read["a"][1],
                                                                         read["b"][1])
    assert not np.array_equal(read["a"][0], read["c"][0])
    assert set(np.unique(read["a"][1])) == {0, 1, 2, 3}  # the phantom has all four classes


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected 3 volume counts"):
        make_demo_data("unused", volumes=(1, 1))
    with pytest.raises(ValueError, match=r"expected source auto\|icbm152\|phantom"):
        make_demo_data("unused", source="mri")
