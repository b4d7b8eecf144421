"""Write a volume as a DICOM series (pydicom, an optional dependency): one file per slice.

The mapping to DICOM, shared by the collections' ``predict`` writers:

* pixels are 16-bit unsigned; a float volume (a magnitude reconstruction) is scaled to
  ``[0, 65535]`` and ``RescaleSlope``/``RescaleIntercept`` give back the stored values
  (``value = pixel * slope + intercept``, error at most ``slope / 2``); a label volume is
  stored as is (slope 1) with the class names in ``ImageComments``;
* geometry comes from a voxel-to-world affine in RAS+ (NIfTI's convention) for the volume's
  ``[row, column, slice]`` index axes, converted to DICOM's LPS+: ``ImagePositionPatient``
  per slice, ``ImageOrientationPatient``, ``PixelSpacing``, ``SliceThickness``. Without an
  affine the geometry is an identity grid of unit spacing, and ``ImageComments`` says so;
* UIDs are derived from the given names (``pydicom.uid.generate_uid`` with entropy
  sources), so writing the same case twice gives the same UIDs and no RNG is touched; a
  label series can share the ``StudyInstanceUID`` and ``FrameOfReferenceUID`` of its image.

Files are written into a temporary folder that is renamed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from atommic_core.errors import AtommicError

__all__ = ["INSTALL_HINT", "series_uids", "write_dicom_series"]

INSTALL_HINT = "pip install 'atommic-rec[dicom]' or 'atommic-seg[dicom]' (pydicom)"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise AtommicError(f"DICOM output needs pydicom, which is not installed; install it "
                           f"with: {INSTALL_HINT}") from None
    return pydicom


def series_uids(*names: str) -> dict[str, str]:
    """Deterministic Study / Series / FrameOfReference UIDs for a case.

    Args:
        *names: What identifies the series, e.g. ``("case_003", "labels")``; the study and
            frame of reference depend on the first name only (shared by a case's series).

    Returns:
        ``{"study", "series", "frame_of_reference"}``.
    """
    from pydicom.uid import generate_uid

    first = names[0] if names else ""
    return {"study": generate_uid(entropy_srcs=["atommic-study", first]),
            "frame_of_reference": generate_uid(entropy_srcs=["atommic-for", first]),
            "series": generate_uid(entropy_srcs=["atommic-series", *names])}


def _geometry(affine: np.ndarray | None, shape: Sequence[int]) -> dict[str, Any]:
    """LPS orientation, spacing and per-slice positions for index axes [row, col, slice]."""
    a = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
    lin = _RAS_TO_LPS @ a[:3, :3]
    origin = _RAS_TO_LPS @ a[:3, 3]
    spacing = np.linalg.norm(lin, axis=0)
    if np.any(spacing == 0):
        raise AtommicError(f"DICOM geometry: the affine has a zero-length axis ({spacing})")
    row_dir, col_dir = lin[:, 1] / spacing[1], lin[:, 0] / spacing[0]
    positions = [origin + k * lin[:, 2] for k in range(shape[0])]
    return {"orientation": [*row_dir.tolist(), *col_dir.tolist()],
            "pixel_spacing": [float(spacing[0]), float(spacing[1])],
            "thickness": float(spacing[2]), "positions": positions}


def _scaling(volume: np.ndarray, labels: bool) -> tuple[np.ndarray, float, float]:
    if labels:
        if volume.min() < 0 or volume.max() > 65535:
            raise AtommicError(f"DICOM labels: expected values in [0, 65535], found "
                               f"[{volume.min()}, {volume.max()}]")
        return volume.astype(np.uint16), 1.0, 0.0
    lo, hi = float(volume.min()), float(volume.max())
    slope = (hi - lo) / 65535.0 if hi > lo else 1.0
    pixels = np.round((volume - lo) / slope).clip(0, 65535).astype(np.uint16)
    return pixels, slope, lo


def _slice_dataset(pixels: np.ndarray, k: int, meta: Mapping[str, Any]) -> Any:
    pydicom = _pydicom()
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    uids, geo = meta["uids"], meta["geometry"]
    sop_uid = generate_uid(entropy_srcs=[uids["series"], str(k)])
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    file_meta.MediaStorageSOPInstanceUID = sop_uid
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = file_meta
    ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, sop_uid
    ds.Modality = "MR"
    ds.PatientName = ds.PatientID = meta["patient_id"]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    ds.FrameOfReferenceUID = uids["frame_of_reference"]
    ds.SeriesDescription, ds.SeriesNumber = meta["description"], meta["series_number"]
    ds.InstanceNumber = k + 1
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ImageOrientationPatient = [round(v, 8) for v in geo["orientation"]]
    ds.ImagePositionPatient = [round(float(v), 6) for v in geo["positions"][k]]
    ds.PixelSpacing = geo["pixel_spacing"]
    ds.SliceThickness = geo["thickness"]
    ds.Rows, ds.Columns = pixels.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = f"{meta['slope']:.10g}", f"{meta['intercept']:.10g}"
    ds.WindowCenter, ds.WindowWidth = meta["window"]
    ds.ImageComments = meta["comments"]
    ds.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
    return ds


def write_dicom_series(volume: np.ndarray, folder: str | os.PathLike, *, case: str,
                       description: str, affine: np.ndarray | None = None,
                       class_names: Sequence[str] | None = None, series_number: int = 1,
                       kind: str = "image") -> list[str]:
    """Write ``volume`` ``[slices, rows, columns]`` as ``folder/IM_0001.dcm``, ...

    Args:
        volume: Magnitude image (float) or label map (integers) per slice.
        folder: Output folder (created; an existing one is replaced).
        case: Case name: patient ID and the seed of the UIDs.
        description: ``SeriesDescription``.
        affine: 4x4 voxel-to-world affine (RAS+, mm) of the ``[row, column, slice]`` axes.
        class_names: For a label map: names of label values 0, 1, ... (stored exactly).
        series_number: ``SeriesNumber``.
        kind: Distinguishes the series of one case (``"image"``, ``"labels"``).

    Returns:
        The files written, in slice order.
    """
    _pydicom()
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise AtommicError(f"DICOM series: expected a volume [slices, rows, columns], found "
                           f"shape {volume.shape}")
    labels = class_names is not None
    pixels, slope, intercept = _scaling(volume, labels)
    lo, hi = float(volume.min()), float(volume.max())
    comments = ("labels: " + ", ".join(f"{i}={n}" for i, n in enumerate(class_names))
                if labels else "magnitude; value = pixel * RescaleSlope + RescaleIntercept")
    if affine is None:
        comments += "; geometry unknown (unit spacing, identity orientation)"
    meta = {"uids": series_uids(case, kind), "geometry": _geometry(affine, volume.shape),
            "patient_id": case, "description": description, "series_number": series_number,
            "slope": slope, "intercept": intercept, "comments": comments,
            "window": (f"{(lo + hi) / 2:.6g}", f"{max(hi - lo, 1e-6):.6g}")}
    folder = os.path.abspath(os.fspath(folder))
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.", dir=parent)
    try:
        for k in range(volume.shape[0]):
            _slice_dataset(pixels, k, meta).save_as(os.path.join(tmp, f"IM_{k + 1:04d}.dcm"),
                                                    enforce_file_format=True)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return [os.path.join(folder, f"IM_{k + 1:04d}.dcm") for k in range(volume.shape[0])]
