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

With the model section (``model_cfg``), ``fft_centered``, ``fft_normalization``,
``spatial_dims`` and ``coil_combination_method`` are the model's: a split section that leaves
them out inherits them, and one that contradicts the value the model uses (its default when
the model does not set an FFT key) is a ``ConfigError``, so data and network never disagree on
the FFT convention.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError
from atommic_rec.data.slice_dataset import SliceDataset
from atommic_rec.transforms import (
    Compose,
    Finalize,
    Target,
    augment_transform_config,
    build_transforms,
)

__all__ = ["MODEL_KEYS", "build_rec_dataset", "default_transform_config", "inherit_model_keys"]

# Keys the data transforms share with the model -> the model's default (None: no default,
# e.g. VarNet ignores coil_combination_method, so only a value the model sets is inherited).
MODEL_KEYS: dict[str, Any] = {"fft_centered": True, "fft_normalization": "ortho",
                              "spatial_dims": [-2, -1], "coil_combination_method": None}
_SECTIONS = {"train": "train_ds", "validation": "validation_ds", "val": "validation_ds",
             "test": "test_ds", "predict": "predict_ds"}
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


def inherit_model_keys(cfg: Mapping[str, Any], model_cfg: Mapping[str, Any] | None,
                       split: str) -> dict[str, Any]:
    """The split config with the :data:`MODEL_KEYS` of the model section filled in.

    Args:
        cfg: The split section.
        model_cfg: The model section (None: ``cfg`` as is).
        split: The split name, for error messages.

    Returns:
        A shallow copy of ``cfg`` where every key the model uses is set to the model's value.

    Raises:
        ConfigError: A split value contradicts the model's.
    """
    merged = {key: cfg[key] for key in cfg}
    if model_cfg is None:
        return merged
    for key, default in MODEL_KEYS.items():
        model_value = model_cfg.get(key)
        model_value = default if model_value is None else model_value
        if model_value is None:
            continue
        if merged.get(key) is None:  # ZeroFilled spells SENSE/RSS; transforms want lower case
            merged[key] = model_value.lower() if key == "coil_combination_method" else model_value
        elif _canonical(key, merged[key]) != _canonical(key, model_value):
            section = _SECTIONS.get(split, f"{split}_ds")
            set_by = "" if model_cfg.get(key) is not None else " (its default)"
            raise ConfigError(
                f"{section}.{key}={_plain(merged[key])!r} contradicts "
                f"model.{key}={_plain(model_value)!r}{set_by}; expected the same value, since "
                f"data and model must agree; hint: drop {key} from {section} (it inherits the "
                f"model's) or set model.{key}")
    return merged


def _canonical(key: str, value: Any) -> Any:
    if key == "spatial_dims":
        return tuple(int(d) for d in value) if isinstance(value, Sequence) else value
    if key == "fft_normalization":
        return "backward" if str(value) == "none" else str(value)  # "none" is torch's default
    return str(value).lower() if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    return [int(v) for v in value] if isinstance(value, Sequence) and \
        not isinstance(value, str) else value


def build_rec_dataset(cfg: Mapping[str, Any], split: str,
                      model_cfg: Mapping[str, Any] | None = None) -> SliceDataset:
    """Build the dataset of one split from its config section.

    Args:
        cfg: The ``train_ds``/``validation_ds``/``test_ds``/``predict_ds`` section.
        split: ``train``, ``validation``, ``test`` or ``predict`` (validation/test masks are
            deterministic per file name unless ``use_seed`` says otherwise).
        model_cfg: The model section: the split inherits its FFT options and coil combination
            (see :func:`inherit_model_keys`).

    Returns:
        A :class:`SliceDataset` whose items are the REC sample dict (see
        :class:`~atommic_rec.transforms.Finalize`).
    """
    cfg = inherit_model_keys(cfg, model_cfg, split)
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
                        target_keys=target_keys, target_transform=_target_part(transform))


def _target_part(transform: Compose) -> Compose | None:
    """A private copy of the transforms up to the ``Target`` one, for the volume max.

    A copy, so its ``Mask`` draws from its own generator and leaves the training masks alone:
    the computed target is exact for validation/test masks (fixed per file) and whenever it
    does not depend on the mask (stored maps, RSS); with maps estimated from random training
    masks it is the target of another draw.
    """
    for i, step in enumerate(transform.transforms):
        if isinstance(step, Target):
            return Compose(copy.deepcopy(transform.transforms[: i + 1]))
    return None


def _resolve_root(path: Path, split: str) -> Path:
    if not path.exists():
        raise ConfigError(f"{split} dataset: data_path {str(path)!r} does not exist; expected "
                          "a folder of .h5 files or a list file")
    if path.is_dir() and not any(path.glob("*.h5")):
        for name in _SPLIT_DIRS.get(split, (split,)):
            if (path / name).is_dir():
                return path / name
    return path
