"""``build_rec_dataset``: a REC split config -> :class:`SliceDataset` with its transforms.

Config keys (all optional except ``data_path``)::

    data_path: demo_data/train      # folder of .h5, a list file, or a folder with train/val/test
    sample_rate: 1.0                # or volume_sample_rate
    seed: 0
    skip_bad_files: false
    mask_args: {type: random1d, accelerations: [4], center_fractions: [0.08]}
    use_seed: null                  # deterministic masks per file; default: split != train
                                    # (training masks: private generator seeded by `seed`
                                    # and the DataLoader worker seed)
    crop_size: null                 # e.g. [128, 128]
    augmentations: null             # train split only, before the mask, e.g. {global_phase:
                                    # true, flip: 0.5, transpose: 0.5, coil_permutation: true,
                                    # scale: [0.5, 2.0]} (see transforms/augment.py)
    coil_combination_method: sense  # sense | rss (initial image and computed target)
    estimate_coil_sensitivities: false   # true: re-estimate even when the file has maps
    sensitivity_method: lowres      # lowres | espirit
    num_low_frequencies: null       # ACS size; null detects it from the mask
    normalize: max                  # max | minmax | mean_std | none
    fft_centered: true
    fft_normalization: ortho
    spatial_dims: [-2, -1]
    keep_kspace: false
    transforms: null                # a custom list replaces the default chain above
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError
from atommic_rec.data.slice_dataset import SliceDataset
from atommic_rec.transforms import (
    Compose,
    Finalize,
    augment_transform_config,
    build_transforms,
)

__all__ = ["build_rec_dataset", "default_transform_config"]

_SPLIT_DIRS = {"train": ("train",), "validation": ("val", "validation", "valid"),
               "val": ("val", "validation", "valid"), "test": ("test",),
               "predict": ("test", "predict")}


def default_transform_config(cfg: Mapping[str, Any], split: str) -> list[dict[str, Any]]:
    """The default transform list for ``cfg`` (see the module docstring for the keys).

    Args:
        cfg: Split config.
        split: ``train``, ``validation``, ``test`` or ``predict``.

    Returns:
        A list of ``{name: ..., **kwargs}`` dicts for :func:`build_transforms`.
    """
    method = cfg.get("coil_combination_method", "sense")
    use_seed = split != "train" if cfg.get("use_seed") is None else bool(cfg["use_seed"])
    keep = bool(cfg.get("keep_kspace", False))
    chain: list[dict[str, Any]] = []
    if cfg.get("crop_size") is not None:
        chain.append({"name": "crop", "size": list(cfg["crop_size"])})
    if split == "train" and cfg.get("augmentations"):
        chain.append(augment_transform_config(cfg["augmentations"], cfg.get("seed")))
    chain += [
        {"name": "mask", "mask_args": cfg.get("mask_args"), "use_seed": use_seed,
         "seed": None if use_seed else cfg.get("seed")},
        {"name": "sensitivity_maps", "method": cfg.get("sensitivity_method", "lowres"),
         "overwrite": bool(cfg.get("estimate_coil_sensitivities", False)),
         "num_low_frequencies": cfg.get("num_low_frequencies")},
        {"name": "target", "method": method},
        {"name": "initial_image", "method": method},
        {"name": "normalize", "method": cfg.get("normalize", "max") or "none",
         "keys": ["masked_kspace", "initial_image", "target"] + (["kspace"] if keep else [])},
        {"name": "finalize", "keep_kspace": keep},
    ]
    return chain


def build_rec_dataset(cfg: Mapping[str, Any], split: str) -> SliceDataset:
    """Build the dataset of one split from its config section.

    Args:
        cfg: The ``train_ds``/``validation_ds``/``test_ds``/``predict_ds`` section.
        split: ``train``, ``validation``, ``test`` or ``predict`` (validation/test masks are
            deterministic per file name unless ``use_seed`` says otherwise).

    Returns:
        A :class:`SliceDataset` whose items are the REC sample dict (see
        :class:`~atommic_rec.transforms.Finalize`).
    """
    data_path = cfg.get("data_path")
    if data_path is None:
        raise ConfigError(f"{split} dataset: expected 'data_path' (a folder of .h5 files or a "
                          "list file); found none; hint: run `python -m atommic_rec "
                          "make-demo-data demo_data` and set data_path=demo_data/train")
    root = _resolve_root(Path(str(data_path)), split)
    defaults = {"fft_centered": cfg.get("fft_centered", True),
                "fft_normalization": cfg.get("fft_normalization", "ortho"),
                "spatial_dims": list(cfg.get("spatial_dims", (-2, -1)))}
    items = cfg.get("transforms")
    transform = build_transforms(items if items is not None else
                                 default_transform_config(cfg, split), defaults)
    if not transform.transforms or not isinstance(transform[-1], Finalize):
        transform = Compose([*transform.transforms, Finalize()])
    method = cfg.get("coil_combination_method", "sense")
    target_keys = ("reconstruction_rss", "reconstruction_sense", "target") if method == "rss" \
        else ("reconstruction_sense", "reconstruction_rss", "target")
    return SliceDataset(root, transform, sample_rate=float(cfg.get("sample_rate", 1.0) or 1.0),
                        volume_sample_rate=cfg.get("volume_sample_rate"),
                        seed=int(cfg.get("seed", 0) or 0),
                        skip_bad_files=bool(cfg.get("skip_bad_files", False)),
                        target_keys=target_keys)


def _resolve_root(path: Path, split: str) -> Path:
    if not path.exists():
        raise ConfigError(f"{split} dataset: data_path {str(path)!r} does not exist; expected "
                          "a folder of .h5 files or a list file")
    if path.is_dir() and not any(path.glob("*.h5")):
        for name in _SPLIT_DIRS.get(split, (split,)):
            if (path / name).is_dir():
                return path / name
    return path
