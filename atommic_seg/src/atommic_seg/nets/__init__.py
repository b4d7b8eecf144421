"""Segmentation networks (plain ``nn.Module``, no Lightning) and their shared blocks."""

from atommic_seg.nets.dynunet import DynUNetND
from atommic_seg.nets.unet import UNetND
from atommic_seg.nets.unetr import UNETRND
from atommic_seg.nets.vnet import VNetND

__all__ = ["UNETRND", "DynUNetND", "UNetND", "VNetND"]
