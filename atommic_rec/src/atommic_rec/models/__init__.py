"""Reconstruction models (``ModelPT`` subclasses), registered through ``atommic_rec.plugin``."""

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.models.cascadenet import CascadeNet
from atommic_rec.models.cirim import CIRIM, RIM
from atommic_rec.models.crnn import CRNNet
from atommic_rec.models.dunet import DUNet
from atommic_rec.models.jointicnet import JointICNet
from atommic_rec.models.kikinet import KIKINet
from atommic_rec.models.lpdnet import LPDNet
from atommic_rec.models.modl import MoDL
from atommic_rec.models.multidomainnet import MultiDomainNet
from atommic_rec.models.proximal_gradient import ProximalGradient
from atommic_rec.models.recurrentvarnet import RecurrentVarNet
from atommic_rec.models.unet import UNet
from atommic_rec.models.varnet import VarNet
from atommic_rec.models.vsnet import VSNet
from atommic_rec.models.xpdnet import XPDNet
from atommic_rec.models.zero_filled import ZeroFilled

__all__ = ["CIRIM", "RIM", "ReconstructionModel", "UNet", "VarNet", "ZeroFilled"]
__all__ += ["CRNNet", "CascadeNet", "KIKINet", "LPDNet", "MultiDomainNet", "XPDNet"]
__all__ += ["DUNet", "JointICNet", "MoDL", "ProximalGradient", "RecurrentVarNet", "VSNet"]
