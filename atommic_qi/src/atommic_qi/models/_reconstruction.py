"""The optional reconstruction module: a REC model applied to every echo before the map fit.

Config (``model`` section), as ATOMMIC's ``use_reconstruction_module``::

    use_reconstruction_module: true
    reconstruction_module: {model_name: CIRIM, num_cascades: 1, ...}   # any REC model config
    # or: reconstruction_module: {restore_path: cirim.atommic}         # a trained REC model
    reconstruction_loss_weight: 1.0   # joint training: + weight * REC loss on the echoes

The module is trained jointly with the maps unless frozen through the core's
``freeze_updates`` (``{enabled: true, modules: {reconstruction_module: -1}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from atommic_core import ModelPT
from atommic_core.errors import ConfigError

__all__ = ["build_reconstruction_module", "reconstruct_echoes"]


def build_reconstruction_module(cfg: Mapping[str, Any]) -> ModelPT | None:
    """The REC model named by ``cfg.reconstruction_module`` (None when not used).

    Args:
        cfg: The QI model section.

    Returns:
        A REC :class:`~atommic_core.ModelPT` or None.
    """
    if not cfg.get("use_reconstruction_module", False):
        return None
    sub = cfg.get("reconstruction_module")
    if isinstance(sub, DictConfig):
        sub = OmegaConf.to_container(sub, resolve=True)
    if not isinstance(sub, Mapping) or not ({"model_name", "target", "restore_path"} & set(sub)):
        raise ConfigError("model.reconstruction_module: expected a REC model config with "
                          f"model_name (e.g. {{model_name: CIRIM, num_cascades: 1}}) or "
                          f"restore_path (a REC .atommic); found {sub!r}")
    if sub.get("restore_path"):
        return ModelPT.restore_from(str(sub["restore_path"]), map_location="cpu")
    if sub.get("target"):
        return ModelPT.from_config_dict(dict(sub))
    from atommic_core.registry import models

    return models[str(sub["model_name"])](dict(sub))


def reconstruct_echoes(module: ModelPT, batch: Mapping[str, Any]) -> torch.Tensor:
    """Run the REC model on every echo (echoes folded into the batch).

    Args:
        module: A REC model (its ``forward(masked_kspace, sensitivity_maps, mask,
            initial_image)`` returns the final complex image).
        batch: The QI batch: ``masked_kspace`` ``[B, E, C, H, W]``, ``sensitivity_maps``
            ``[B, C, H, W]``, ``mask`` broadcastable to k-space, ``initial_image`` ``[B, E, H,
            W]``.

    Returns:
        Complex echo images ``[B, E, H, W]``.
    """
    kspace = batch["masked_kspace"]
    b, e = kspace.shape[:2]
    maps = batch["sensitivity_maps"].unsqueeze(1).expand(b, e, *kspace.shape[2:]).flatten(0, 1)
    mask = batch["mask"]
    mask = mask.expand(b, e, *mask.shape[2:]).flatten(0, 1)
    images = module(kspace.flatten(0, 1), maps, mask, batch["initial_image"].flatten(0, 1))
    return images.reshape(b, e, *images.shape[-2:])
