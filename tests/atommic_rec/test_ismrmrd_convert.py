"""``python -m atommic_rec convert ismrmrd``: files written here with the ismrmrd library."""

from __future__ import annotations

import h5py
import ismrmrd
import numpy as np
import pytest

from atommic_rec.__main__ import main
from atommic_rec.physics.coil_compression import noise_whitening_matrix

SLICES, COILS, RX, OS, NY = 2, 4, 16, 2, 12  # readout oversampled 2x: 32 encoded samples
ACS = (4, 5, 6, 7)  # calibration lines around the centre (ky = 6)


def _fft_c(x, inverse=False):
    fn = np.fft.ifft if inverse else np.fft.fft
    return np.fft.fftshift(fn(np.fft.ifftshift(x, axes=-1), axis=-1, norm="ortho"), axes=-1)


def _header(accel=2, ky_limits=(0, NY - 1, NY // 2)):
    x = ismrmrd.xsd
    space = lambda nx: x.encodingSpaceType(  # noqa: E731
        matrixSize=x.matrixSizeType(x=nx, y=NY, z=1),
        fieldOfView_mm=x.fieldOfViewMm(x=200.0 * nx / RX, y=200.0, z=5.0))
    limit = lambda lo, hi, c: x.limitType(minimum=lo, maximum=hi, center=c)  # noqa: E731
    encoding = x.encodingType(
        encodedSpace=space(RX * OS), reconSpace=space(RX),
        encodingLimits=x.encodingLimitsType(kspace_encoding_step_1=limit(*ky_limits),
                                            slice=limit(0, SLICES - 1, 0)),
        trajectory=x.trajectoryType.CARTESIAN,
        parallelImaging=x.parallelImagingType(accelerationFactor=x.accelerationFactorType(
            kspace_encoding_step_1=accel, kspace_encoding_step_2=1)))
    header = x.ismrmrdHeader(
        experimentalConditions=x.experimentalConditionsType(H1resonanceFrequency_Hz=63500000),
        acquisitionSystemInformation=x.acquisitionSystemInformationType(
            receiverChannels=COILS),
        encoding=[encoding])
    return x.ToXML(header)


def _acq(data, ky=0, slice_=0, flags=(), dwell=5.0):
    acq = ismrmrd.Acquisition.from_array(data.astype(np.complex64))
    acq.idx.kspace_encode_step_1, acq.idx.slice = ky, slice_
    acq.center_sample = data.shape[-1] // 2
    acq.sample_time_us = dwell
    for flag in flags:
        acq.set_flag(flag)
    return acq


def _write(path, kspace, lines, noise):
    """ISMRMRD file of ``kspace`` [slices, coils, RX, NY] at ``lines``, readout oversampled."""
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    dataset.write_xml_header(_header())
    dataset.append_acquisition(_acq(noise, flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT], dwell=2.5))
    pad = (RX * OS - RX) // 2
    for s in range(SLICES):
        for ky in lines:
            image = _fft_c(kspace[s, :, :, ky], inverse=True)  # along the readout
            wide = np.pad(image, ((0, 0), (pad, pad)))  # the oversampled field of view
            flags = [ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING] if ky in ACS else []
            dataset.append_acquisition(_acq(_fft_c(wide), ky=ky, slice_=s, flags=flags))
    dataset.close()


@pytest.fixture
def raw(tmp_path):
    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((SLICES, COILS, RX, NY))
              + 1j * rng.standard_normal((SLICES, COILS, RX, NY))).astype(np.complex64)
    noise = (rng.standard_normal((COILS, 64)) + 1j * rng.standard_normal((COILS, 64))) * 0.1
    lines = sorted(set(range(0, NY, 2)) | set(ACS))
    path = tmp_path / "scan.h5"
    _write(path, kspace, lines, noise)
    return path, kspace, lines, noise.astype(np.complex64)


def test_round_trip_to_the_same_kspace(raw, tmp_path, capsys):
    path, kspace, lines, noise = raw
    assert main(["convert", "ismrmrd", str(path), str(tmp_path / "out")]) == 0
    with h5py.File(tmp_path / "out" / "scan.h5") as f:
        got, mask = f["kspace"][()], f["mask"][()]
        assert got.shape == (SLICES, COILS, RX, NY) and got.dtype == np.complex64
        np.testing.assert_allclose(got[..., lines], kspace[..., lines], atol=1e-5)
        assert not np.any(np.delete(got, lines, axis=-1))  # unacquired lines stay zero
        np.testing.assert_array_equal(np.flatnonzero(mask), lines)
        np.testing.assert_allclose(f["noise"][()], noise, atol=1e-6)
        assert f["noise"].attrs["noise_dwell_time_us"] == 2.5
        assert f["noise"].attrs["dwell_time_us"] == 5.0
        header = f["ismrmrd_header"][()].decode()
        assert ismrmrd.xsd.CreateFromDocument(header).encoding[0].reconSpace.matrixSize.x == RX
        attrs = dict(f.attrs)
        assert attrs["acceleration"] == 2 and attrs["num_low_frequencies"] == len(ACS)
        assert (attrs["padding_left"], attrs["padding_right"]) == (0, NY)
        assert "reconstruction_rss" not in f  # undersampled: no target


def test_fully_sampled_file_gets_the_rss_target_and_the_dataset_reads_it(tmp_path):
    from atommic_rec.data.slice_dataset import SliceDataset

    rng = np.random.default_rng(1)
    kspace = (rng.standard_normal((SLICES, COILS, RX, NY))
              + 1j * rng.standard_normal((SLICES, COILS, RX, NY))).astype(np.complex64)
    _write(tmp_path / "full.h5", kspace, list(range(NY)), np.ones((COILS, 8)))
    assert main(["convert", "ismrmrd", str(tmp_path / "full.h5"), str(tmp_path / "out")]) == 0
    with h5py.File(tmp_path / "out" / "full.h5") as f:
        image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)),
                                             norm="ortho"), axes=(-2, -1))
        np.testing.assert_allclose(f["reconstruction_rss"][()],
                                   np.sqrt((np.abs(image) ** 2).sum(1)), rtol=1e-4, atol=1e-5)
    assert len(SliceDataset(tmp_path / "out")) == SLICES


def test_noise_whitening_matrix_whitens_the_noise(raw):
    _, _, _, noise = raw
    """The converted noise scan feeds the REC pre-whitening (one implementation)."""
    import torch

    w = noise_whitening_matrix(torch.from_numpy(np.asarray(noise, dtype=np.complex128)))
    white = (w @ torch.from_numpy(np.asarray(noise, dtype=np.complex128))).numpy()
    white = white - white.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(white @ white.conj().T / (noise.shape[1] - 1), np.eye(COILS),
                               atol=1e-8)


def test_non_cartesian_and_bad_files_are_one_line(tmp_path, capsys):
    path = tmp_path / "radial.h5"
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    dataset.write_xml_header(_header().replace("cartesian", "radial"))
    dataset.close()
    assert main(["convert", "ismrmrd", str(path), str(tmp_path / "out")]) == 2
    assert "trajectory 'radial'; only Cartesian" in capsys.readouterr().err
    (tmp_path / "plain.h5").write_bytes(b"not hdf5")
    assert main(["convert", "ismrmrd", str(tmp_path / "plain.h5"), str(tmp_path / "o")]) == 2
    assert "not an ISMRMRD file" in capsys.readouterr().err
