"""Property-based fuzzing of the SEG readers: a SegDataError or a valid dataset, nothing else.

Generated HDF5 and NIfTI cases mix random shapes (matching or not), dtypes, values (NaN/Inf,
out-of-range and fractional labels) and spacings, plus raw bytes and truncated or corrupted
bytes of valid files. Building a :class:`SegmentationDataset` (random dimensionality, label
mode, classes, normalization, complex input, 2.5D context) must raise a one-line
``AtommicError`` or give a dataset whose first and last items follow the item contract, with
finite images. Derandomized; each target's corpus must reach valid datasets too.
"""

from __future__ import annotations

from collections import Counter

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atommic_core.errors import AtommicError
from atommic_seg.data import SegmentationDataset
from atommic_seg.data.demo import make_demo_data
from atommic_seg.data.readers import to_nifti_layout

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

_IMAGE_DTYPES = st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.complex64])
_LABEL_DTYPES = st.sampled_from([np.uint8, np.int16, np.float32])
_OPTIONS = st.fixed_dictionaries({
    "dimensionality": st.sampled_from([2, 3]),
    "label_mode": st.sampled_from(["multiclass", "multiclass", "multilabel"]),
    "num_classes": st.integers(2, 4),
    "complex_data": st.booleans(),
    "normalization": st.sampled_from(["max", "zscore", "none"]),
    "context_slices": st.sampled_from([0, 0, 1]),
}).map(lambda o: {**o, "context_slices": o["context_slices"] if o["dimensionality"] == 2
                  else 0})  # 2.5D needs 2D items (a config error, not the data's)
#: What can be wrong with a case; each generated case has none, one or two of these.
_FAULTS = ["image_2d", "image_4d", "empty", "nan", "inf", "huge", "label_wider", "label_slices",
           "label_channels", "label_complex", "label_negative", "label_too_high",
           "label_fractional", "label_nan", "no_label", "spacing_zero", "spacing_nan"]
_H5_FAULTS = ["image_key", "spacing_short", "spacing_text"]


def _faults(extra=()):
    return st.one_of(st.just([]), st.lists(st.sampled_from([*_FAULTS, *extra]), min_size=1,
                                           max_size=2, unique=True))


def _case(shape, options, dtype, label_dtype, faults, rng):
    """``(image, label or None, spacing)`` slices first, valid unless ``faults`` say otherwise."""
    s, h, w = shape
    image = rng.standard_normal(shape) * 100
    if np.dtype(dtype).kind == "c":
        image = image + 1j * rng.standard_normal(shape)
    for fault, value in (("nan", np.nan), ("inf", -np.inf), ("huge", 1e300)):
        if fault in faults and np.dtype(dtype).kind in "fc":
            image.flat[rng.integers(image.size)] = value
    with np.errstate(over="ignore"):  # "huge" in float32 is Inf, as intended
        image = image.astype(dtype) if np.dtype(dtype).kind == "c" else image.real.astype(dtype)
    if "image_2d" in faults:
        image = image[0]
    elif "image_4d" in faults:
        image = image[..., None]
    elif "empty" in faults:
        image = image[:0]
    c = options["num_classes"]
    lshape = [s, h, w] if options["label_mode"] == "multiclass" else [s, c, h, w]
    if "label_wider" in faults:
        lshape[-1] += 1
    if "label_slices" in faults:
        lshape[0] += 1
    if "label_channels" in faults:
        lshape.insert(1, 5)
    high = c if options["label_mode"] == "multiclass" else 2
    label = rng.integers(0, high, lshape).astype(np.float64)
    for fault, value in (("label_negative", -1), ("label_too_high", c), ("label_fractional",
                                                                          0.5),
                         ("label_nan", np.nan)):
        if fault in faults:
            label.flat[rng.integers(label.size)] = value
    kind = np.complex64 if "label_complex" in faults else label_dtype
    if np.dtype(kind).kind in "iu":
        label = np.nan_to_num(label)
    label = None if "no_label" in faults else label.astype(kind)
    spacing = [2.0, 1.0, 1.5]
    if "spacing_zero" in faults:
        spacing[1] = 0.0
    if "spacing_nan" in faults:
        spacing[0] = np.nan
    return image, label, spacing


def _nifti(array):
    """Slices first -> the NIfTI layout ``[X, Y, Z(, C)]`` (other ranks as they are)."""
    return to_nifti_layout(array) if array.ndim in (3, 4) else array


def _check(root, options, outcomes: Counter) -> None:
    try:
        dataset = SegmentationDataset(root, **options)
    except (AtommicError, FileNotFoundError) as exc:
        assert isinstance(exc, AtommicError), repr(exc)  # the folders always exist here
        message = str(exc).strip()
        assert message and "\n" not in message, repr(exc)
        outcomes["error"] += 1
        return
    for index in sorted({0, len(dataset) - 1}):
        item = dataset[index]
        image = item["image"]
        dims = options["dimensionality"]
        channels = (2 if options["complex_data"] else 1) * (2 * options["context_slices"] + 1
                                                             if dims == 2 else 1)
        assert image.dtype == torch.float32 and image.ndim == dims + 1
        assert image.shape[0] == channels and bool(torch.isfinite(image).all())
        target = item["target"]
        if options["label_mode"] == "multiclass":
            assert target.shape == image.shape[1:] and target.dtype == torch.int64
            assert 0 <= int(target.min()) and int(target.max()) < options["num_classes"]
        else:
            assert target.shape == (options["num_classes"], *image.shape[1:])
    outcomes["valid"] += 1


_SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6))


def _corpus_reaches_both(outcomes: Counter, record_property, min_valid: int = 10) -> None:
    """Both kinds of outcome are reached (Hypothesis never repeats an identical example, so a
    damaged-bytes corpus holds few intact files). The counts go to ``--junitxml``."""
    record_property("fuzz_outcomes", dict(outcomes))
    assert outcomes["valid"] >= min_valid and outcomes["error"] >= 10, outcomes


def test_generated_hdf5_cases(tmp_path, record_property):
    outcomes: Counter = Counter()

    @FUZZ
    @given(_SHAPES, _IMAGE_DTYPES, _LABEL_DTYPES, _faults(_H5_FAULTS), _OPTIONS,
           st.integers(0, 2**16))
    def generated(shape, dtype, label_dtype, faults, options, seed):
        image, label, spacing = _case(shape, options, dtype, label_dtype, faults,
                                      np.random.default_rng(seed))
        path = tmp_path / "fuzz.h5"
        with h5py.File(path, "w") as f:
            f["kspace" if "image_key" in faults else "image"] = image
            if label is not None:
                f["segmentation"] = label
            f.attrs["spacing"] = spacing[:2] if "spacing_short" in faults else \
                "mm" if "spacing_text" in faults else spacing
        _check(path, options, outcomes)

    generated()
    _corpus_reaches_both(outcomes, record_property)


def test_generated_nifti_cases(tmp_path, record_property):
    outcomes: Counter = Counter()
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()

    @FUZZ
    @given(_SHAPES, _IMAGE_DTYPES, _LABEL_DTYPES, _faults(), _OPTIONS, st.integers(0, 2**16))
    def generated(shape, dtype, label_dtype, faults, options, seed):
        image, label, spacing = _case(shape, options, dtype, label_dtype, faults,
                                      np.random.default_rng(seed))
        label_file = tmp_path / "labels" / "f.nii.gz"
        label_file.unlink(missing_ok=True)
        zooms = (spacing[1], spacing[2], spacing[0])  # [X, Y, Z] in the header (no affine)
        for array, path in ((image, tmp_path / "images" / "f.nii.gz"), (label, label_file)):
            if array is not None:
                img = nib.Nifti1Image(_nifti(array), None)
                img.header.set_zooms((*zooms, 1.0)[:array.ndim])
                nib.save(img, str(path))
        _check(tmp_path, options, outcomes)

    generated()
    _corpus_reaches_both(outcomes, record_property)


def _valid_bytes(tmp_path, fmt) -> dict[str, bytes]:
    """The files of one valid demo case: ``{relative path: bytes}``."""
    make_demo_data(tmp_path / "valid", splits=(1, 0, 0), source="phantom", shape=(10, 8, 3),
                   fmt=fmt)
    root = tmp_path / "valid" / "train"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fmt", ["hdf5", "nifti"])
def test_truncated_corrupted_and_random_bytes(tmp_path, fmt, record_property):
    valid = _valid_bytes(tmp_path, fmt)
    names = sorted(valid)
    options = {"num_classes": 4}
    outcomes: Counter = Counter()

    @FUZZ
    @given(st.sampled_from(names), st.data())
    def damaged(name, data):
        good = valid[name]
        kind = data.draw(st.sampled_from(["intact", "truncated", "edited", "edited", "random"]))
        if kind == "intact":
            blob = good
        elif kind == "truncated":
            blob = good[:data.draw(st.integers(0, len(good)))]
        elif kind == "edited":
            blob = _edit(good, data.draw(st.lists(st.tuples(
                st.integers(0, len(good) - 1), st.integers(0, 255)), min_size=1, max_size=6)))
        else:
            blob = data.draw(st.binary(max_size=512))
        root = tmp_path / "case"
        for other, content in valid.items():
            (root / other).parent.mkdir(parents=True, exist_ok=True)
            (root / other).write_bytes(blob if other == name else content)
        _check(root, {**options, **_OPTION_DEFAULTS}, outcomes)

    damaged()
    _corpus_reaches_both(outcomes, record_property, min_valid=2)


_OPTION_DEFAULTS = {"dimensionality": 2, "label_mode": "multiclass", "complex_data": False,
                    "normalization": "max", "context_slices": 0}


def _edit(good: bytes, edits) -> bytes:
    blob = bytearray(good)
    for where, value in edits:
        blob[where] = value
    return bytes(blob)
