"""``build_qi_dataset``: a QI split config -> :class:`MultiEchoSliceDataset` with its transforms.

Config keys (all optional except ``data_path``)::

    data_path: qi_demo_data/train   # folder of .h5, a list file, or a folder with train/val/test
    TEs: null                       # echo times in ms for files without a TEs attribute
    echo_axis: 1                    # echoes in kspace: 1 [S, E, C, H, W] or 2 [S, C, E, H, W]
    sample_rate: 1.0                # or volume_sample_rate
    seed: 0
    skip_bad_files: false
    mask_args: {type: gaussian2d, accelerations: [12], center_fractions: [0.1]}
    use_seed: null                  # deterministic masks per file; default: split != train
    crop_size: null
    coil_combination_method: sense  # initial (zero-filled) echoes and echo targets
    estimate_coil_sensitivities: false
    sensitivity_method: lowres      # lowres | espirit (from the first echo)
    num_low_frequencies: null
    anatomy_threshold: 0.1          # brain mask when the file has none (signal threshold)
    normalize: max                  # max | minmax | mean_std | none
    keep_kspace: false
    transforms: null                # a custom list replaces the default chain

With the model section, the split inherits ``fft_centered``, ``fft_normalization``,
``spatial_dims``, ``coil_combination_method`` (REC's rule: a contradiction is a
``ConfigError``) and the QI keys ``signal_model`` and ``map_ranges`` (target maps fitted when a
file has none use the model's parametrisation and ranges).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atommic_core.errors import ConfigError
from atommic_qi.data.dataset import MultiEchoSliceDataset
from atommic_qi.data.transforms import QIFinalize
from atommic_rec.data.build import inherit_model_keys
from atommic_rec.transforms import Compose, build_transforms

__all__ = ["QI_MODEL_KEYS", "build_qi_dataset", "default_qi_transform_config"]

QI_MODEL_KEYS = ("signal_model", "map_ranges")
_SPLIT_DIRS = {"train": ("train",), "validation": ("val", "validation", "valid"),
               "val": ("val", "validation", "valid"), "test": ("test",),
               "predict": ("test", "predict")}


def default_qi_transform_config(cfg: Mapping[str, Any], split: str) -> list[dict[str, Any]]:
    """The default multi-echo transform list for ``cfg`` (keys: see the module docstring).

    Args:
        cfg: Split config (after inheriting the model's keys).
        split: ``train``, ``validation``, ``test`` or ``predict``.

    Returns:
        A list of ``{name: ..., **kwargs}`` dicts for REC's ``build_transforms``.
    """
    method = cfg.get("coil_combination_method", "sense")
    use_seed = split != "train" if cfg.get("use_seed") is None else bool(cfg["use_seed"])
    keep = bool(cfg.get("keep_kspace", False))
    model = cfg.get("signal_model", "gre")
    chain: list[dict[str, Any]] = []
    if cfg.get("crop_size") is not None:
        chain.append({"name": "qi_crop", "size": list(cfg["crop_size"])})
    chain += [
        {"name": "mask", "mask_args": cfg.get("mask_args"), "use_seed": use_seed,
         "seed": None if use_seed else cfg.get("seed")},
        {"name": "qi_sensitivity_maps", "method": cfg.get("sensitivity_method", "lowres"),
         "overwrite": bool(cfg.get("estimate_coil_sensitivities", False)),
         "num_low_frequencies": cfg.get("num_low_frequencies")},
        {"name": "target", "method": method},
        {"name": "initial_image", "method": method},
        {"name": "qi_target_maps", "signal_model": model, "map_ranges": cfg.get("map_ranges")},
        {"name": "qi_anatomy_mask", "threshold": float(cfg.get("anatomy_threshold", 0.1))},
        {"name": "qi_normalize", "method": cfg.get("normalize", "max") or "none",
         "signal_model": model,
         "keys": ["masked_kspace", "initial_image", "target"] + (["kspace"] if keep else [])},
        {"name": "qi_finalize", "keep_kspace": keep},
    ]
    return chain


def _inherit_qi_keys(cfg: dict[str, Any], model_cfg: Mapping[str, Any] | None,
                     split: str) -> dict[str, Any]:
    for key in QI_MODEL_KEYS:
        value = None if model_cfg is None else model_cfg.get(key)
        if value is None:
            continue
        value = _plain(value)
        if cfg.get(key) is None:
            cfg[key] = value
        elif _plain(cfg[key]) != value:
            raise ConfigError(f"{split} data: {key}={_plain(cfg[key])!r} contradicts model.{key}="
                              f"{value!r}; expected the same value; hint: drop {key} from the "
                              "data section (it inherits the model's)")
    return cfg


def _plain(value: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def build_qi_dataset(cfg: Mapping[str, Any], split: str,
                     model_cfg: Mapping[str, Any] | None = None) -> MultiEchoSliceDataset:
    """Build the multi-echo dataset of one split from its config section.

    Args:
        cfg: The ``train_ds``/``validation_ds``/``test_ds``/``predict_ds`` section.
        split: ``train``, ``validation``, ``test`` or ``predict``.
        model_cfg: The model section (FFT options, coil combination, signal model, ranges).

    Returns:
        A :class:`MultiEchoSliceDataset` whose items are the QI sample dict (see
        :class:`~atommic_qi.data.transforms.QIFinalize`).
    """
    cfg = _inherit_qi_keys(inherit_model_keys(cfg, model_cfg, split), model_cfg, split)
    data_path = cfg.get("data_path")
    if data_path is None:
        raise ConfigError(f"{split} dataset: expected 'data_path' (a folder of multi-echo .h5 "
                          "files or a list file); found none; hint: run `python -m atommic_qi "
                          "make-demo-data qi_demo_data` and set data_path=qi_demo_data/train")
    root = _resolve_root(Path(str(data_path)), split)
    defaults = {"fft_centered": cfg.get("fft_centered", True),
                "fft_normalization": cfg.get("fft_normalization", "ortho"),
                "spatial_dims": list(cfg.get("spatial_dims", (-2, -1)))}
    items = cfg.get("transforms")
    transform = build_transforms(items if items is not None else
                                 default_qi_transform_config(cfg, split), defaults)
    if not transform.transforms or not isinstance(transform[-1], QIFinalize):
        transform = Compose([*transform.transforms, QIFinalize()])
    tes = cfg.get("TEs")
    try:
        return MultiEchoSliceDataset(
            root, transform, tes=None if tes is None else list(_plain(tes)),
            echo_axis=int(cfg.get("echo_axis", 1)),
            sample_rate=float(cfg.get("sample_rate", 1.0) or 1.0),
            volume_sample_rate=cfg.get("volume_sample_rate"), seed=int(cfg.get("seed", 0) or 0),
            skip_bad_files=bool(cfg.get("skip_bad_files", False)))
    except ValueError as exc:
        if type(exc) is not ValueError:
            raise
        raise ConfigError(f"{split} data: {exc}") from None


def _resolve_root(path: Path, split: str) -> Path:
    if not path.exists():
        raise ConfigError(f"{split} dataset: data_path {str(path)!r} does not exist; expected "
                          "a folder of multi-echo .h5 files or a list file")
    if path.is_dir() and not any(path.glob("*.h5")):
        for name in _SPLIT_DIRS.get(split, (split,)):
            if (path / name).is_dir():
                return path / name
    return path
