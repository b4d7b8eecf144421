"""Property-based fuzzing of the fastMRI HDF5 reader: a DataFileError or a valid dataset.

Generated files mix the layout's dataset names with random shapes, dtypes, values (NaN
included) and attributes, plus raw and truncated bytes. Construction must end in a named
``AtommicError`` or a dataset whose items come out of the default transform chain as the
REC sample contract; reading a bad item must name the file. Derandomized and bounded.
"""

from __future__ import annotations

import h5py
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atommic_core.errors import AtommicError
from atommic_rec.data import build_rec_dataset

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

_DTYPES = st.sampled_from([np.complex64, np.float32, np.int16, np.bool_])
_FILL = st.sampled_from(["random", "zeros", "nan", "inf"])


def _array(shape, dtype, fill, rng):
    if fill == "zeros":
        data = np.zeros(shape)
    else:
        data = rng.standard_normal(shape) + (1j * rng.standard_normal(shape)
                                             if np.dtype(dtype).kind == "c" else 0)
        if fill in ("nan", "inf") and np.dtype(dtype).kind in "fc" and data.size:
            data.flat[0] = np.nan if fill == "nan" else np.inf
    if np.dtype(dtype).kind == "b":
        return data.real > 0
    return data.astype(dtype) if np.dtype(dtype).kind == "c" else data.real.astype(dtype)


def _check(folder) -> None:
    cfg = {"data_path": str(folder),
           "mask_args": {"type": "random1d", "accelerations": [2], "center_fractions": [0.3]}}
    try:
        dataset = build_rec_dataset(cfg, "validation")
    except AtommicError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), repr(exc)
        return
    for index in range(min(len(dataset), 2)):
        try:
            sample = dataset[index]
        except (AtommicError, ValueError) as exc:  # bad content: the file must be named
            assert "fuzz.h5" in str(exc), repr(exc)
            continue
        assert sample["masked_kspace"].dtype.is_complex and sample["target"].ndim == 2
        for value in sample.values():  # NaN/Inf in the file never reach the model
            if isinstance(value, torch.Tensor):
                assert bool(torch.isfinite(value).all())


_GRID = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(4, 12), st.integers(4, 12))


def _related(grid, choice):
    """A shape for a companion dataset: the layout's own, or deliberately off."""
    s, c, h, w = grid
    options = [(s, c, h, w), (s, h, w), (w,), (h, w), (s, w), (s, h, w + 1), (s + 1, h, w),
               (c, h, w)]
    return options[choice % len(options)]


@FUZZ
@given(_GRID, st.sampled_from([np.complex64, np.complex64, np.float32]), _FILL,
       st.dictionaries(st.sampled_from(["sensitivity_map", "mask", "reconstruction_rss",
                                        "reconstruction_sense", "target"]),
                       st.tuples(st.integers(0, 7), _DTYPES, _FILL), max_size=3),
       st.dictionaries(st.sampled_from(["max", "norm", "acquisition", "patient_id"]),
                       st.one_of(st.floats(allow_nan=True), st.text(max_size=5),
                                 st.integers(-3, 3)), max_size=2),
       st.booleans(), st.integers(0, 2**16))
def test_generated_files(tmp_path, grid, kdtype, kfill, companions, attrs, single, seed):
    rng = np.random.default_rng(seed)
    with h5py.File(tmp_path / "fuzz.h5", "w") as f:
        kshape = (grid[0], *grid[2:]) if single else grid
        f.create_dataset("kspace", data=_array(kshape, kdtype, kfill, rng))
        for name, (choice, dtype, fill) in companions.items():
            f.create_dataset(name, data=_array(_related(grid, choice), dtype, fill, rng))
        f.attrs.update(attrs)
    _check(tmp_path)


def _good_file(path) -> bytes:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["kspace"] = (rng.standard_normal((2, 2, 8, 8)) + 1j).astype(np.complex64)
    return path.read_bytes()


@FUZZ
@given(st.data())
def test_truncated_and_corrupted_files(tmp_path, data):
    good = _good_file(tmp_path / "fuzz.h5")
    cut = data.draw(st.one_of(st.just(len(good)), st.integers(0, len(good))))
    edits = data.draw(st.lists(st.tuples(st.integers(0, max(cut - 1, 0)), st.integers(0, 255)),
                               max_size=6))
    blob = bytearray(good[:cut])
    for where, value in edits:
        if where < len(blob):
            blob[where] = value
    (tmp_path / "fuzz.h5").write_bytes(bytes(blob))
    _check(tmp_path)
