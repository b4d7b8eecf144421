"""Coil compression (SVD, GDCC) and noise pre-whitening: physics and transforms."""

import logging

import h5py
import numpy as np
import pytest
import torch
from rec_synthetic import multicoil_kspace, write_volume

from atommic_rec.data import build_rec_dataset
from atommic_rec.physics import ifft2, rss_complex, sense_reduce
from atommic_rec.physics.coil_compression import (
    apply_coil_matrix,
    apply_gdcc,
    gdcc_compression_matrices,
    noise_whitening_matrix,
    svd_compression_matrix,
)
from atommic_rec.transforms import CompressCoils, Prewhiten


def _rss_image(kspace):
    return rss_complex(ifft2(kspace), dim=-3)


def _energy(kspace):
    return float(kspace.abs().square().sum())


@pytest.mark.parametrize("method", ["svd", "gdcc"])
@pytest.mark.parametrize("shape", [(6, 32, 28), (5, 27, 21)])
def test_compression_to_all_coils_preserves_the_rss_image(method, shape):
    kspace, _, _ = multicoil_kspace(*shape)
    out = CompressCoils(shape[0], method, calib_lines=8)({"kspace": kspace})["kspace"]
    assert out.shape == kspace.shape
    assert not torch.allclose(out, kspace, atol=1e-3)  # the coils were mixed
    ref = _rss_image(kspace)
    assert torch.allclose(_rss_image(out), ref, atol=1e-5 * float(ref.max()))


def test_gdcc_keeps_more_signal_than_svd_with_few_virtual_coils():
    kspace, _, _ = multicoil_kspace(8, 32, 28)
    for n in (1, 2):
        svd = apply_coil_matrix(kspace, svd_compression_matrix(kspace, n, 8))
        gdcc = apply_gdcc(kspace, gdcc_compression_matrices(kspace, n, 8))
        assert svd.shape[0] == gdcc.shape[0] == n
        assert _energy(svd) < _energy(gdcc) <= _energy(kspace) * (1 + 1e-5)
    # the aligned GDCC matrices vary smoothly along the readout (no arbitrary phase flips)
    mats = gdcc_compression_matrices(kspace, 2, 8)
    assert (mats[1:] - mats[:-1]).abs().amax() < 0.5


def test_compressed_maps_give_the_same_sense_image_with_all_coils():
    kspace, maps, image = multicoil_kspace(6, 24, 20)
    for method in ("svd", "gdcc"):
        out = CompressCoils(6, method, calib_lines=8)({"kspace": kspace, "sensitivity_maps": maps})
        sense = sense_reduce(ifft2(out["kspace"][None]), out["sensitivity_maps"][None])[0]
        assert torch.allclose(sense, image, atol=1e-4)


def test_whitening_makes_the_noise_covariance_identity():
    g = torch.Generator().manual_seed(0)
    coils, samples = 4, 4000
    mixing = torch.randn(coils, coils, dtype=torch.complex128, generator=g)
    noise = mixing @ torch.randn(coils, samples, dtype=torch.complex128, generator=g)
    w = noise_whitening_matrix(noise)
    white = w @ (noise - noise.mean(1, keepdim=True))
    cov = white @ white.conj().T / (samples - 1)
    assert torch.allclose(cov, torch.eye(coils, dtype=cov.dtype), atol=1e-10)
    fresh = w @ (mixing @ torch.randn(coils, samples, dtype=torch.complex128, generator=g))
    cov = fresh @ fresh.conj().T / samples  # a new scan: identity up to sampling error
    assert torch.allclose(cov, torch.eye(coils, dtype=cov.dtype), atol=0.15)


def test_prewhiten_transform_mixes_kspace_and_maps_and_drops_the_stored_target():
    kspace, maps, image = multicoil_kspace(4, 16, 16)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(4, 2, 300, dtype=torch.complex64, generator=g)
    noise = noise * torch.arange(1, 5)[:, None, None]  # unequal coil noise levels
    out = Prewhiten()({"kspace": kspace, "sensitivity_maps": maps, "noise": noise,
                       "target": image.abs(), "max_value": 1.0})
    w = noise_whitening_matrix(noise)
    assert torch.allclose(out["kspace"], apply_coil_matrix(kspace, w))
    assert "target" not in out and "noise" not in out and np.isnan(out["max_value"])
    assert torch.allclose(rss_complex(out["sensitivity_maps"], dim=0), torch.ones(16, 16),
                          atol=1e-5)


def test_prewhiten_without_a_noise_scan_is_a_logged_no_op(caplog):
    kspace, _, _ = multicoil_kspace(3, 8, 8)
    step = Prewhiten()
    with caplog.at_level(logging.WARNING, logger="atommic_core.rec"):
        for _ in range(3):
            out = step({"kspace": kspace, "fname": "a.h5"})
    assert out["kspace"] is kspace
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "a.h5 has no 'noise' dataset" in lines[0]


def test_bad_settings_are_one_line_errors():
    kspace, _, _ = multicoil_kspace(3, 8, 8)
    with pytest.raises(ValueError, match="expected method in"):
        CompressCoils(2, "pca")
    with pytest.raises(ValueError, match=r"1 <= num_virtual_coils <= 3"):
        svd_compression_matrix(kspace, 4)
    with pytest.raises(ValueError, match=r"expected the noise scan as \[coils=3"):
        Prewhiten()({"kspace": kspace, "noise": torch.ones(2, 50, dtype=torch.complex64)})
    with pytest.raises(ValueError, match="covariance is singular"):
        noise_whitening_matrix(torch.ones(3, 50, dtype=torch.complex64))
    with pytest.raises(ValueError, match="before 'mask'"):
        CompressCoils(2)({"kspace": kspace, "masked_kspace": kspace})


def test_split_config_whitens_and_compresses_files_with_a_noise_scan(tmp_path):
    write_volume(tmp_path / "a.h5", slices=2, coils=4, h=16, w=16)
    g = np.random.default_rng(0)
    with h5py.File(tmp_path / "a.h5", "a") as f:
        f["noise"] = (g.standard_normal((4, 500)) + 1j * g.standard_normal((4, 500))) * 0.01
    cfg = {"data_path": str(tmp_path), "noise_prewhitening": True,
           "coil_compression": {"method": "gdcc", "num_virtual_coils": 2, "calib_lines": 8},
           "mask_args": {"type": "equispaced1d", "accelerations": [2], "center_fractions": [0.25]}}
    ds = build_rec_dataset(cfg, "val")
    item = ds[1]
    assert item["masked_kspace"].shape == (2, 16, 16) and item["sensitivity_maps"].shape[0] == 2
    assert torch.isfinite(item["target"]).all() and item["target"].max() > 0
    # the whitened scale: the target now comes from the whitened k-space, not the file
    with h5py.File(tmp_path / "a.h5") as f:
        stored = float(np.abs(f["reconstruction_sense"][1]).max())
    assert item["max_value"] * item["scale"] > 10 * stored
