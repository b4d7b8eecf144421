"""Networks of the multitask models: plain ``nn.Module`` s built from REC's and SEG's blocks."""

from atommic_mtl.nets.idslr import IDSLRNet, IDSLRUNetNet
from atommic_mtl.nets.mtlrs import MTLRSBlock, MTLRSNet, adapt_hidden_states
from atommic_mtl.nets.parts import CoilUnet, UnetDecoder, UnetEncoder, WeightedDataConsistency
from atommic_mtl.nets.recseg import RecSegUNetNet
from atommic_mtl.nets.segnet import SegNetNet
from atommic_mtl.nets.seranet import ConvLSTMCell, SERANetNet

__all__ = [
    "CoilUnet", "ConvLSTMCell", "IDSLRNet", "IDSLRUNetNet", "MTLRSBlock", "MTLRSNet",
    "RecSegUNetNet", "SERANetNet", "SegNetNet", "UnetDecoder", "UnetEncoder",
    "WeightedDataConsistency", "adapt_hidden_states",
]
