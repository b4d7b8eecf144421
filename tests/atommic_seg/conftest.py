"""Tiny on-disk segmentation data shared by the atommic_seg tests."""

from __future__ import annotations

import numpy as np
import pytest


def _write_nifti_case(root, name, image, label, affine=None):
    import nibabel as nib

    affine = np.diag([1.5, 1.0, 2.0, 1.0]) if affine is None else affine
    for sub, data in (("images", image), ("labels", label)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(data, affine), str(root / sub / f"{name}.nii.gz"))


@pytest.fixture
def write_nifti_case():
    """``write(root, name, image, label, affine=None)``: a NIfTI case ``[X, Y, Z(, C)]``."""
    return _write_nifti_case


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """Phantom demo data: 2 train, 1 val, 1 test cases of shape [X, Y, Z] = [20, 20, 8]."""
    from atommic_seg.data.demo import make_demo_data

    root = tmp_path_factory.mktemp("seg_demo")
    make_demo_data(root, splits=(2, 1, 1), source="phantom", shape=(20, 20, 8), seed=0)
    return root
