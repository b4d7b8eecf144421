"""Read the weights of a ``restore_path``: a ``.atommic`` archive or a Lightning checkpoint.

Anything else (a text file, HDF5 data, a checkpoint of another model) must be one clear line,
never a pickle ``KeyError``, torch's advice to unpickle with ``weights_only=False`` (which
would run code from the file) or hundreds of state-dict key names.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import zipfile
from typing import Any

from atommic_core.model._archive import ArchiveError

__all__ = ["file_kind", "read_lightning_checkpoint"]

_SIGNATURES = ((b"\x89HDF\r\n\x1a\n", "HDF5 data"), (b"\x1f\x8b", "a gzip file"),
               (b"PK\x03\x04", "a zip file"), (b"\x93NUMPY", "a NumPy array"),
               (b"\x80", "a pickle"))


def file_kind(path: str | os.PathLike) -> str:
    """``"atommic"``, ``"torch"`` (a torch/Lightning zip checkpoint) or a description.

    Args:
        path: An existing file.

    Returns:
        The two recognised kinds, else e.g. ``"HDF5 data"``, ``"text"`` or ``"binary data"``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return "a folder"
    if tarfile.is_tarfile(path):
        return "atommic"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            if any(n.endswith("data.pkl") for n in z.namelist()):
                return "torch"
        return "a zip file"
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    try:
        head.decode("utf-8")
        return "text" if head else "an empty file"
    except UnicodeDecodeError:
        return "binary data"


def read_lightning_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dict of a Lightning ``.ckpt``, loaded with ``weights_only=True``.

    Args:
        path: The checkpoint file.

    Returns:
        The dict; it has a ``state_dict``.

    Raises:
        ArchiveError: The file is not a Lightning checkpoint or holds more than tensors and
            plain values (it is never unpickled with ``weights_only=False``).
    """
    import torch

    path = os.fspath(path)
    kind = file_kind(path)
    if kind != "torch":
        raise ArchiveError(f"{path} is {kind}, not a .atommic archive or a Lightning checkpoint; "
                           "hint: point model.restore_path at the <name>.atommic (or a .ckpt) "
                           "that train wrote")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise ArchiveError(f"{path}: cannot be read safely as a checkpoint ({reason}); it holds "
                           "objects other than tensors, or is corrupted; atommic only loads "
                           "tensors and plain values") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        found = sorted(checkpoint)[:5] if isinstance(checkpoint, dict) else type(checkpoint)
        raise ArchiveError(f"{path}: expected a Lightning checkpoint with a 'state_dict'; "
                           f"found {found}")
    return checkpoint
