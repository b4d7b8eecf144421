"""Networks of the quantitative models: plain ``nn.Module`` s built on REC's blocks."""

from atommic_qi.nets.qrim import QCIRIMNet, QRIMBlock
from atommic_qi.nets.qvarnet import QVarNetBlock, QVarNetNet

__all__ = ["QCIRIMNet", "QRIMBlock", "QVarNetBlock", "QVarNetNet"]
