"""Networks of the reconstruction models: plain ``nn.Module`` s, no Lightning.

Shared blocks are written once: :class:`Unet`/:class:`NormUnet`, data consistency,
:class:`SensitivityNet`, recurrent cells and :class:`RIMBlock`.
"""

from atommic_rec.nets.cirim import CIRIMNet
from atommic_rec.nets.complex_channels import ConvStack
from atommic_rec.nets.conjugate_gradient import (
    conjugate_gradient,
    sense_normal_operator,
    solve_regularised_sense,
)
from atommic_rec.nets.consistency import (
    at_least_complex64,
    log_likelihood_gradient,
    soft_data_consistency,
)
from atommic_rec.nets.didn import DIDN
from atommic_rec.nets.dunet import DUNetNet, build_data_consistency
from atommic_rec.nets.jointicnet import JointICNetNet, sensitivity_gradient
from atommic_rec.nets.modl import MoDLNet, PositiveScalar, ResidualDenoiser
from atommic_rec.nets.phase import remove_global_phase
from atommic_rec.nets.proximal_gradient import ProximalGradientNet
from atommic_rec.nets.recurrent import ConvGRUCell, ConvNonlinear, IndRNNCell, build_recurrent_cell
from atommic_rec.nets.recurrentvarnet import RecurrentVarNetNet
from atommic_rec.nets.rim import RIMBlock
from atommic_rec.nets.sensitivity import SensitivityNet, center_mask
from atommic_rec.nets.unet import ConvBlock, InstanceNorm2d, NormUnet, Unet, global_phase
from atommic_rec.nets.unrolled import ImageUnrolledNet
from atommic_rec.nets.varnet import VarNetBlock, VarNetNet
from atommic_rec.nets.vsnet import VSNetNet, variable_splitting_step

__all__ = [
    "CIRIMNet", "ConvBlock", "ConvGRUCell", "ConvNonlinear", "IndRNNCell", "InstanceNorm2d",
    "NormUnet", "RIMBlock",
    "SensitivityNet", "Unet", "VarNetBlock", "VarNetNet", "at_least_complex64",
    "build_recurrent_cell", "center_mask", "global_phase", "log_likelihood_gradient",
    "soft_data_consistency",
]
__all__ += [  # REC zoo part B
    "DIDN",
    "ConvStack",
    "DUNetNet",
    "ImageUnrolledNet",
    "JointICNetNet",
    "MoDLNet",
    "PositiveScalar",
    "ProximalGradientNet",
    "RecurrentVarNetNet",
    "ResidualDenoiser",
    "VSNetNet",
    "build_data_consistency",
    "conjugate_gradient",
    "remove_global_phase",
    "sense_normal_operator",
    "sensitivity_gradient",
    "solve_regularised_sense",
    "variable_splitting_step",
]
