"""``build_mtl_dataset``: an MTL split config -> :class:`JointSliceDataset` with the joint chain.

The split config is REC's (see :mod:`atommic_rec.data.build`: ``data_path``, ``mask_args``,
``crop_size``, ``coil_combination_method``, ``normalize``, ...) plus::

    augmentations: null     # train split only, REC's keys, e.g. {global_phase: true, flip: 0.5,
                            # transpose: 0.5, coil_permutation: true}; labels move with the image
    skip_bad_files: false   # also skips files whose labels fail the checks
    segmentation_key: segmentation

The chain is REC's default list with the label path inserted: ``segmentation_crop`` /
``segmentation_pad`` after REC's ``crop`` / ``pad`` (same size), ``joint_augment`` instead of
REC's ``augment`` and ``joint_finalize`` instead of ``finalize``. A custom ``transforms`` list
is used as given and must end with ``joint_finalize``. The model section's ``label_mode`` and
``num_classes`` decide how labels are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atommic_core.errors import ConfigError
from atommic_mtl.data.dataset import JointSliceDataset
from atommic_rec.data.build import build_rec_dataset, default_transform_config, inherit_model_keys

__all__ = ["build_mtl_dataset", "joint_transform_config"]

_LABEL_STEPS = {"crop": "segmentation_crop", "pad": "segmentation_pad"}


def joint_transform_config(cfg: Mapping[str, Any], split: str) -> list[dict[str, Any]]:
    """The default joint transform list for a split config (model keys already inherited).

    Args:
        cfg: Split config.
        split: ``train``, ``validation``, ``test`` or ``predict``.

    Returns:
        A list of ``{name: ..., **kwargs}`` dicts for REC's ``build_transforms``.
    """
    if cfg.get("flip") is not None:
        raise ConfigError(f"{split} dataset: expected no 'flip' key; found {cfg['flip']}; hint: "
                          "use augmentations: {flip: 0.5} (REC's augmentations; labels move "
                          "with the image)")
    chain: list[dict[str, Any]] = []
    for item in default_transform_config(cfg, split):
        name = item["name"]
        if name == "augment":
            item = {**item, "name": "joint_augment"}
        if name == "finalize":
            chain.append({"name": "joint_finalize", "keep_kspace": item.get("keep_kspace", False),
                          "require_segmentation": split != "predict"})
            continue
        chain.append(item)
        if name in _LABEL_STEPS:
            chain.append({"name": _LABEL_STEPS[name], "size": list(item["size"])})
    return chain


def build_mtl_dataset(cfg: Mapping[str, Any], split: str,
                      model_cfg: Mapping[str, Any] | None = None) -> JointSliceDataset:
    """Build the joint dataset of one split.

    Args:
        cfg: The ``train_ds``/``validation_ds``/``test_ds``/``predict_ds`` section.
        split: ``train``, ``validation``, ``test`` or ``predict`` (labels are optional for
            ``predict``; validation/test masks are deterministic per file).
        model_cfg: The model section: FFT options and coil combination are inherited as in
            REC, ``label_mode`` (multiclass) and ``num_classes`` (2) decide the labels.

    Returns:
        A :class:`JointSliceDataset`.
    """
    if cfg.get("data_path") is None:
        raise ConfigError(f"{split} dataset: expected 'data_path' (a folder of .h5 files with "
                          "k-space and segmentation); found none; hint: run `python -m "
                          "atommic_mtl make-demo-data mtl_demo_data` and set "
                          "data_path=mtl_demo_data/train")
    merged = inherit_model_keys(cfg, model_cfg, split)
    items = merged.get("transforms")
    if items is None:
        merged["transforms"] = joint_transform_config(merged, split)
    elif not items or dict(items[-1]).get("name") != "joint_finalize":
        raise ConfigError(f"{split} dataset: a custom transforms list must end with "
                          "{name: joint_finalize} (REC's finalize drops the labels); found "
                          f"{dict(items[-1]).get('name') if items else 'an empty list'!r}")
    model_cfg = model_cfg or {}
    slices = build_rec_dataset(merged, split, model_cfg=model_cfg)
    return JointSliceDataset(slices, label_mode=str(model_cfg.get("label_mode", "multiclass")),
                             num_classes=int(model_cfg.get("num_classes", 2)),
                             require_labels=split != "predict",
                             skip_bad_files=bool(cfg.get("skip_bad_files", False)),
                             segmentation_key=str(cfg.get("segmentation_key", "segmentation")))
