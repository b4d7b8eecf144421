"""ISMRMRD raw data (Cartesian 2D) to the fastMRI HDF5 layout: ``convert ismrmrd IN OUT``.

The mapping (ISMRMRD v1 header and acquisition flags, Inati et al., MRM 2017):

* ``kspace`` ``[slices, coils, readout, phase]`` complex64: each imaging readout goes to the
  line ``kspace_encode_step_1 - center + phase // 2`` of its ``slice``, with ``phase`` the
  encoded matrix ``y`` (so the encoding-limits centre lands on the matrix centre and
  partial-Fourier gaps stay zero). Readouts of one line over several ``average`` counters
  are averaged. Asymmetric echoes are placed so ``center_sample`` sits at the readout centre.
* Readout oversampling (encoded ``x`` > recon ``x``) is removed: centred orthonormal inverse
  FFT along the readout, crop of the central recon ``x`` samples, FFT back (image values keep
  their scale).
* ``mask`` ``[phase]`` float32: 1 on every acquired line (calibration lines included).
  Attributes ``acceleration`` (header's ``kspace_encoding_step_1`` factor, else lines in the
  encoding limits / lines acquired), ``num_low_frequencies`` (lines flagged as parallel
  calibration), ``padding_left`` / ``padding_right`` (the encoding limits on the phase axis),
  ``encoding_size`` / ``recon_size`` (x, y, z), ``acquisition``, ``patient_id``.
* Noise scans (``ACQ_IS_NOISE_MEASUREMENT``) are kept as ``noise`` ``[coils, samples]``
  complex64 with attributes ``noise_dwell_time_us`` and ``dwell_time_us`` for
  pre-whitening (split option ``noise_prewhitening: true``, see
  :func:`atommic_rec.physics.coil_compression.noise_whitening_matrix`).
* The XML header is kept verbatim as the ``ismrmrd_header`` dataset.
* A fully sampled file also gets ``reconstruction_rss`` ``[slices, readout, phase]``
  (root-sum-of-squares of the coil images) and the ``max`` attribute.

Navigator, phase-correction, dummy and feedback readouts are skipped. Non-Cartesian, 3D
(encoded ``z`` > 1) and multi-contrast/repetition/phase data are refused with a one-line
reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from atommic_core.errors import AtommicError

__all__ = ["convert_ismrmrd"]

INSTALL_HINT = "pip install 'atommic-rec[ismrmrd]'"
_SKIP_FLAGS = ("ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA", "ACQ_IS_DUMMYSCAN_DATA",
               "ACQ_IS_RTFEEDBACK_DATA", "ACQ_IS_HPFEEDBACK_DATA",
               "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA", "ACQ_IS_PHASE_STABILIZATION",
               "ACQ_IS_PHASE_STABILIZATION_REFERENCE")
_CALIBRATION_FLAGS = ("ACQ_IS_PARALLEL_CALIBRATION", "ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING")


class IsmrmrdError(AtommicError, ValueError):
    """An ISMRMRD file this converter cannot map (the message says what and why)."""


def _ismrmrd() -> Any:
    try:
        import ismrmrd
    except ImportError:
        raise AtommicError(f"convert ismrmrd needs the ismrmrd package, which is not "
                           f"installed; install it with: {INSTALL_HINT}") from None
    return ismrmrd


def _fft_c(x: np.ndarray, inverse: bool) -> np.ndarray:
    fn = np.fft.ifft if inverse else np.fft.fft
    return np.fft.fftshift(fn(np.fft.ifftshift(x, axes=-1), axis=-1, norm="ortho"), axes=-1)


def _remove_oversampling(data: np.ndarray, recon_x: int) -> np.ndarray:
    """``[coils, encoded_x]`` readouts to ``[coils, recon_x]`` (image centre kept)."""
    if data.shape[-1] == recon_x:
        return data
    start = (data.shape[-1] - recon_x) // 2
    return _fft_c(_fft_c(data, inverse=True)[:, start:start + recon_x], inverse=False)


def _center_readout(acq: Any, encoded_x: int) -> np.ndarray:
    """The readout as ``[coils, encoded_x]`` with ``center_sample`` at ``encoded_x // 2``."""
    data = np.asarray(acq.data)
    samples = data.shape[-1]
    offset = encoded_x // 2 - int(acq.center_sample)
    if offset < 0 or offset + samples > encoded_x:
        raise IsmrmrdError(f"readout of {samples} samples with center_sample "
                           f"{acq.center_sample} does not fit the encoded matrix x={encoded_x}")
    out = np.zeros((data.shape[0], encoded_x), dtype=np.complex64)
    out[:, offset:offset + samples] = data
    return out


def _encoding(header: Any, path: str) -> dict[str, Any]:
    enc = header.encoding[0]
    if len(header.encoding) > 1:
        raise IsmrmrdError(f"{path}: {len(header.encoding)} encodings; one is supported")
    trajectory = str(getattr(enc.trajectory, "value", enc.trajectory))
    if trajectory != "cartesian":
        raise IsmrmrdError(f"{path}: trajectory {trajectory!r}; only Cartesian data converts "
                           "to the fastMRI layout (grid non-Cartesian data first)")
    es, rs, lim = enc.encodedSpace.matrixSize, enc.reconSpace.matrixSize, enc.encodingLimits
    if es.z > 1:
        raise IsmrmrdError(f"{path}: 3D encoding (encoded z = {es.z}); only 2D multi-slice "
                           "data converts")
    ky = lim.kspace_encoding_step_1
    parallel = getattr(enc, "parallelImaging", None)
    factor = parallel.accelerationFactor.kspace_encoding_step_1 if parallel else None
    return {"encoded": (es.x, es.y, es.z), "recon": (rs.x, rs.y, rs.z),
            "ky": (ky.minimum, ky.maximum, ky.center),
            "slices": (lim.slice.maximum + 1) if lim.slice is not None else 1,
            "factor": factor}


def _read(path: str) -> tuple[str, dict[str, Any], list[Any]]:
    ismrmrd = _ismrmrd()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"convert ismrmrd: no file {path}")
    try:
        dataset = ismrmrd.Dataset(path, "dataset", create_if_needed=False)
    except Exception as exc:  # noqa: BLE001 - h5py/ismrmrd raise many kinds here
        raise IsmrmrdError(f"{path}: not an ISMRMRD file with group 'dataset' ({exc})") from None
    try:
        xml = dataset.read_xml_header()
        xml = xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)
        encoding = _encoding(ismrmrd.xsd.CreateFromDocument(xml), path)
        try:
            count = dataset.number_of_acquisitions()
        except LookupError:
            raise IsmrmrdError(f"{path}: the file holds no acquisitions") from None
        acquisitions = [dataset.read_acquisition(i) for i in range(count)]
    finally:
        dataset.close()
    return xml, encoding, acquisitions


def _flag(acq: Any, name: str) -> bool:
    import ismrmrd

    return bool(acq.is_flag_set(getattr(ismrmrd, name)))


def _assemble(path: str, enc: dict[str, Any], acquisitions: list[Any]) -> dict[str, Any]:
    (ex, ey, _), (rx, _, _) = enc["encoded"], enc["recon"]
    ky_min, ky_max, ky_center = enc["ky"]
    coils = None
    kspace = counts = None
    calibration: set[int] = set()
    noise, noise_dwell, dwell = [], None, None
    for acq in acquisitions:
        if _flag(acq, "ACQ_IS_NOISE_MEASUREMENT"):
            noise.append(np.asarray(acq.data))
            noise_dwell = float(acq.sample_time_us)
            continue
        if any(_flag(acq, f) for f in _SKIP_FLAGS):
            continue
        idx = acq.idx
        if idx.contrast or idx.repetition or idx.phase or idx.set or idx.segment:
            raise IsmrmrdError(f"{path}: readouts with contrast/repetition/phase/set/segment "
                               "counters > 0; convert one of them at a time")
        if kspace is None:
            coils = int(acq.active_channels)
            kspace = np.zeros((enc["slices"], coils, rx, ey), dtype=np.complex128)
            counts = np.zeros((enc["slices"], ey), dtype=np.int64)
        line = int(idx.kspace_encode_step_1) - ky_center + ey // 2
        if not 0 <= line < ey or idx.slice >= enc["slices"]:
            raise IsmrmrdError(f"{path}: readout at ky={idx.kspace_encode_step_1}, slice "
                               f"{idx.slice} lies outside the encoding limits")
        readout = _remove_oversampling(_center_readout(acq, ex), rx)
        kspace[idx.slice, :, :, line] += readout
        counts[idx.slice, line] += 1
        dwell = float(acq.sample_time_us)
        if any(_flag(acq, f) for f in _CALIBRATION_FLAGS):
            calibration.add(line)
    if kspace is None:
        raise IsmrmrdError(f"{path}: no imaging readouts found")
    kspace = kspace / np.maximum(counts, 1)[:, None, None, :]
    lines = counts.max(axis=0) > 0
    return {"kspace": kspace.astype(np.complex64), "mask": lines.astype(np.float32),
            "calibration": len(calibration), "coils": coils,
            "noise": np.concatenate(noise, axis=-1).astype(np.complex64) if noise else None,
            "noise_dwell": noise_dwell, "dwell": dwell,
            "padding": (ky_min - ky_center + ey // 2, ky_max - ky_center + ey // 2 + 1)}


def _target(kspace: np.ndarray) -> np.ndarray:
    image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)),
                                         norm="ortho"), axes=(-2, -1))
    return np.sqrt((np.abs(image) ** 2).sum(axis=1)).astype(np.float32)


def convert_ismrmrd(in_path: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """Convert one ISMRMRD file to ``OUT_DIR/<stem>.h5`` in the fastMRI layout.

    Args:
        in_path: The ISMRMRD HDF5 file (group ``dataset``).
        out_dir: Output folder (created).

    Returns:
        The path written (via a temporary name).
    """
    import h5py

    path = os.fspath(in_path)
    xml, enc, acquisitions = _read(path)
    data = _assemble(path, enc, acquisitions)
    lines_in_limits = data["padding"][1] - data["padding"][0]
    acceleration = float(enc["factor"] or lines_in_limits / max(data["mask"].sum(), 1))
    out = Path(out_dir) / f"{Path(path).stem}.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("kspace", data=data["kspace"])
            f.create_dataset("mask", data=data["mask"])
            f.create_dataset("ismrmrd_header", data=xml)
            if data["noise"] is not None:
                noise = f.create_dataset("noise", data=data["noise"])
                noise.attrs["noise_dwell_time_us"] = data["noise_dwell"]
                noise.attrs["dwell_time_us"] = data["dwell"]
            if data["mask"][data["padding"][0]:data["padding"][1]].all():
                target = _target(data["kspace"])
                f.create_dataset("reconstruction_rss", data=target)
                f.attrs["max"] = float(target.max())
            f.attrs.update({
                "acceleration": acceleration, "num_low_frequencies": data["calibration"],
                "padding_left": data["padding"][0], "padding_right": data["padding"][1],
                "encoding_size": list(enc["encoded"]), "recon_size": list(enc["recon"]),
                "acquisition": "ismrmrd", "patient_id": Path(path).stem})
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(out)
