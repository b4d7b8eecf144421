"""Quantitative models: qZeroFilled, qRIM, qCIRIM and qVarNet on :class:`QuantitativeModel`."""

from atommic_qi.models.base import QuantitativeModel
from atommic_qi.models.qcirim import qCIRIM, qRIM
from atommic_qi.models.qvarnet import qVarNet
from atommic_qi.models.zero_filled import qZeroFilled

__all__ = ["QuantitativeModel", "qCIRIM", "qRIM", "qVarNet", "qZeroFilled"]
