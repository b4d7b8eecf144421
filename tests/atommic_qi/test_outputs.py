"""Output writers: HDF5 maps with units, NIfTI with affine and unit, colour panels."""

import json

import h5py
import nibabel
import numpy as np
from PIL import Image

from atommic_qi.models._outputs import (
    colour_panel,
    write_map_nifti,
    write_panel_png,
    write_qmaps_h5,
)


def test_qmaps_h5_holds_the_stack_each_map_and_units(tmp_path):
    maps = np.random.default_rng(0).random((3, 4, 5, 6)).astype(np.float32)
    path = write_qmaps_h5(str(tmp_path / "v.h5"), maps, ("R2star", "S0", "B0", "phi"),
                          ("1/s", "a.u.", "Hz", "rad"), {"model": "qCIRIM"}, np.ones((3, 5, 6)))
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["qmaps"][()], maps)
        np.testing.assert_array_equal(f["B0_map"][()], maps[:, 2])
        assert f["R2star_map"].attrs["unit"] == "1/s" and f.attrs["model"] == "qCIRIM"
        assert json.loads(f.attrs["map_names"]) == ["R2star", "S0", "B0", "phi"]
        assert f["anatomy_mask"].shape == (3, 5, 6)
    assert not list(tmp_path.glob("*.tmp*"))


def test_nifti_keeps_values_affine_and_unit(tmp_path):
    volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    affine = np.diag([2.0, 1.5, 1.5, 1.0])
    path = write_map_nifti(str(tmp_path / "v_B0.nii.gz"), volume, affine, "Hz")
    image = nibabel.load(path)
    np.testing.assert_array_equal(np.asarray(image.dataobj), volume)
    np.testing.assert_array_equal(image.affine, affine)
    assert image.header["descrip"].tobytes().rstrip(b"\0") == b"unit: Hz"
    assert np.array_equal(nibabel.load(write_map_nifti(str(tmp_path / "i.nii.gz"), volume, None,
                                                       "1/s")).affine, np.eye(4))


def test_colour_panel_has_one_tile_per_image_and_a_colour_bar(tmp_path):
    target = np.linspace(0, 30, 64).reshape(8, 8)
    mask = np.zeros((8, 8))
    mask[2:6, 2:6] = 1
    panel = colour_panel([target, target + 1], ["target", "estimate"], "R2* (1/s)", mask=mask)
    assert panel.height > 8 * 24 and panel.width > 2 * 8 * 24  # upscaled tiles + bar
    rgb = np.asarray(panel)
    assert (rgb[30, 2] == 0).all()  # outside the mask is black
    assert rgb[20:25].std() > 0  # coloured content
    path = write_panel_png(panel, str(tmp_path / "p.png"))
    assert Image.open(path).size == panel.size
    signed = colour_panel([target - 15], ["B0"], "B0 (Hz)", diverging=True)
    middle = np.asarray(signed)[20 + 96, 96]  # near zero: the white middle of the map
    assert middle.min() > 200
