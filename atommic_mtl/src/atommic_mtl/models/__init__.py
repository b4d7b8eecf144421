"""Multitask models (``ModelPT`` subclasses), registered through ``atommic_mtl.plugin``."""

from atommic_mtl.models.base import JointEstimates, MultiTaskModel
from atommic_mtl.models.zoo import IDSLR, MODELS, MTLRS, IDSLRUNet, RecSegUNet, SegNet, SERANet

__all__ = ["IDSLR", "MODELS", "MTLRS", "IDSLRUNet", "JointEstimates", "MultiTaskModel",
           "RecSegUNet", "SERANet", "SegNet"]
