import pytest
import torch
from rec_synthetic import multicoil_kspace

from atommic_rec.physics import espirit, estimate_sensitivity_maps_lowres, rss_complex


def _agreement(est, true):
    """|<S_est, S_true>| over coils per pixel (1 = same maps up to a per-pixel phase)."""
    return (est * true.conj()).sum(-3).abs()


def _object_mask(image):
    return image.abs() > 0.5 * image.abs().max()


def test_lowres_maps_recover_known_maps():
    kspace, maps, image = multicoil_kspace(coils=4, h=32, w=32)
    est = estimate_sensitivity_maps_lowres(kspace, 12)
    assert est.shape == kspace.shape and est.dtype == torch.complex64
    inside = _object_mask(image)
    torch.testing.assert_close(rss_complex(est, dim=0)[inside], torch.ones(int(inside.sum())))
    assert _agreement(est, maps)[inside].mean() > 0.97


def test_lowres_batch_2d_box_and_non_centered():
    kspace, _, _ = multicoil_kspace(coils=3, h=24, w=27)
    batch = torch.stack([kspace, 2 * kspace])
    est = estimate_sensitivity_maps_lowres(batch, (10, 10))
    torch.testing.assert_close(est[0], est[1], atol=1e-5, rtol=1e-4)
    shifted = torch.fft.ifftshift(kspace, dim=(-2, -1))  # DC at the corner
    est_nc = estimate_sensitivity_maps_lowres(shifted, (10, 10), centered=False)
    # non-centered images are the centered ones shifted
    torch.testing.assert_close(torch.fft.fftshift(est_nc, dim=(-2, -1)), est[0],
                               atol=1e-4, rtol=1e-3)


def test_espirit_recovers_known_maps_and_crops_background():
    kspace, maps, image = multicoil_kspace(coils=4, h=32, w=32)
    est = espirit(kspace, calib_size=16, kernel_size=5, crop=0.9)
    assert est.shape == kspace.shape and est.dtype == torch.complex64
    inside = _object_mask(image)
    torch.testing.assert_close(rss_complex(est, dim=0)[inside], torch.ones(int(inside.sum())),
                               atol=1e-4, rtol=1e-4)
    assert _agreement(est, maps)[inside].min() > 0.98
    # far outside the object there is no signal: maps are cropped to zero there
    assert rss_complex(est, dim=0)[0, 0] == 0


def test_espirit_non_centered_matches_centered():
    kspace, _, _ = multicoil_kspace(coils=3, h=20, w=21)
    est = espirit(kspace, calib_size=12, kernel_size=4)
    est_nc = espirit(torch.fft.ifftshift(kspace, dim=(-2, -1)), calib_size=12, kernel_size=4,
                     centered=False)
    torch.testing.assert_close(torch.fft.fftshift(est_nc, dim=(-2, -1)), est,
                               atol=1e-4, rtol=1e-3)


def test_espirit_bad_kernel():
    kspace, _, _ = multicoil_kspace(coils=2, h=16, w=16)
    with pytest.raises(ValueError, match="kernel_size"):
        espirit(kspace, calib_size=4, kernel_size=6)
