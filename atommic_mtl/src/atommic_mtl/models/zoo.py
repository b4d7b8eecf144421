"""The six multitask models: thin :class:`MultiTaskModel` subclasses over :mod:`atommic_mtl.nets`.

Each maps its config keys to a network and says what :meth:`~MultiTaskModel.run` returns;
the papers are cited on the networks. Registered names are the class names (:data:`MODELS`).
"""

from __future__ import annotations

from typing import Any

from atommic_core.errors import ConfigError
from atommic_mtl.models.base import JointEstimates, MultiTaskModel
from atommic_mtl.nets import (
    IDSLRNet,
    IDSLRUNetNet,
    MTLRSNet,
    RecSegUNetNet,
    SegNetNet,
    SERANetNet,
)

__all__ = ["IDSLR", "MODELS", "MTLRS", "IDSLRUNet", "RecSegUNet", "SERANet", "SegNet"]

# ATOMMIC's RIMBlock lists (its CIRIM/MTLRS reference configs)
RIM_LISTS = {"conv_filters": (64, 64, 2), "conv_kernels": (5, 3, 3), "conv_dilations": (1, 2, 1),
             "conv_bias": (True, True, False), "recurrent_filters": (64, 64, 0),
             "recurrent_kernels": (1, 1, 0), "recurrent_dilations": (1, 1, 0),
             "recurrent_bias": (True, True, False)}


def _coils(model: MultiTaskModel) -> int:
    coils = model.cfg.get("num_coils")
    if coils is None or int(coils) < 1:
        raise ConfigError(f"{type(model).__name__}: expected model.num_coils (the coil count of "
                          f"the data: the network's input has 2 channels per coil); found "
                          f"{coils}; hint: set model.num_coils=8 for the demo data")
    return int(coils)


class MTLRS(MultiTaskModel):
    """Multi-task learning for reconstruction and segmentation (Karkalousos et al. 2023/2024).

    Config: ``joint_cascades`` (2: reconstruction-segmentation blocks), ``num_cascades`` (1:
    CIRIM cascades per block), ``time_steps`` (8), ``recurrent_layer`` (``IndRNN``/``GRU``),
    REC's RIM layer lists (``conv_filters``, ``recurrent_filters``, ...; ATOMMIC's defaults),
    ``sigma`` (1.0), ``memory_efficient`` (True), ``task_adaptation`` (True),
    ``segmentation_channels`` (16), ``segmentation_pools`` (2),
    ``segmentation_complex_input`` (False), ``phase_equivariant`` (False: REC's CIRIM
    option, see :class:`~atommic_mtl.nets.MTLRSNet`). ``run`` returns every time step of
    every cascade of every block and each block's segmentation.
    """

    def build_networks(self) -> None:
        """Build the MTLRS blocks."""
        c = self.cfg
        lists = {k: tuple(c.get(k, v)) for k, v in RIM_LISTS.items()}
        self.sigma = float(c.get("sigma", 1.0))
        efficient = bool(c.get("memory_efficient", True))
        self.net = MTLRSNet(
            self.num_classes, joint_cascades=int(c.get("joint_cascades", 2)),
            num_cascades=int(c.get("num_cascades", 1)),
            task_adaptation=bool(c.get("task_adaptation", True)),
            multilabel=self.label_mode == "multilabel",
            segmentation_channels=int(c.get("segmentation_channels", 16)),
            segmentation_pools=int(c.get("segmentation_pools", 2)),
            complex_input=bool(c.get("segmentation_complex_input", False)),
            phase_equivariant=bool(c.get("phase_equivariant", False)),
            checkpoint_cascades=efficient, recurrent_layer=str(c.get("recurrent_layer", "IndRNN")),
            time_steps=int(c.get("time_steps", 8)), checkpointing=efficient, fft_kw=self.fft_kw,
            **lists)

    def run(self, batch: dict[str, Any]) -> JointEstimates:
        """Every RIM estimate and every block's segmentation, in order."""
        recs, segs = self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"],
                              batch["initial_image"], self.sigma)
        return JointEstimates(recs, segs)


class _CoilModel(MultiTaskModel):
    """Shared ``run`` of the coil-image networks (IDSLR, IDSLRUNet, SegNet)."""

    def run(self, batch: dict[str, Any]) -> JointEstimates:
        """The SENSE image after every iteration/cascade and the segmentation logits."""
        recs, segs = self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])
        return JointEstimates(recs, segs)


class IDSLR(_CoilModel):
    """Image-domain deep structured low-rank network with a segmentation decoder.

    Pramanik, Wu and Jacob 2021 (arXiv:2105.09220). Config: ``num_coils`` (required),
    ``channels`` (32), ``pooling_layers`` (4), ``num_iters`` (5), ``dropout`` (0),
    ``normalize`` (True).
    """

    def build_networks(self) -> None:
        """Build the shared-encoder network."""
        c = self.cfg
        self.net = IDSLRNet(self.num_classes, _coils(self), int(c.get("channels", 32)),
                            int(c.get("pooling_layers", 4)), int(c.get("num_iters", 5)),
                            float(c.get("dropout", 0.0)), bool(c.get("normalize", True)),
                            self.fft_kw)


class IDSLRUNet(_CoilModel):
    """IDSLR with a separate segmentation U-Net on the coil images.

    Pramanik, Wu and Jacob 2021 (arXiv:2105.09220). Config as :class:`IDSLR` plus
    ``segmentation_channels`` (32) and ``segmentation_pools`` (4).
    """

    def build_networks(self) -> None:
        """Build the unrolled network and the segmentation U-Net."""
        c = self.cfg
        self.net = IDSLRUNetNet(self.num_classes, _coils(self), int(c.get("channels", 32)),
                                int(c.get("pooling_layers", 4)), int(c.get("num_iters", 5)),
                                int(c.get("segmentation_channels", 32)),
                                int(c.get("segmentation_pools", 4)),
                                float(c.get("dropout", 0.0)), bool(c.get("normalize", True)),
                                self.fft_kw)


class SegNet(_CoilModel):
    """Joint CS-MRI reconstruction and segmentation network (Sun et al. 2019, IPMI).

    Config: ``num_coils`` (required), ``num_cascades`` (5), ``channels`` (32),
    ``pooling_layers`` (4), ``dropout`` (0), ``normalize`` (True), ``residual`` (False).
    ``run`` returns the image after every cascade and every cascade's segmentation, then the
    fused one (ATOMMIC averages the loss over all of them:
    ``segmentation_intermediate_loss_weighting: uniform``).
    """

    def build_networks(self) -> None:
        """Build the cascades and the fusion layer."""
        c = self.cfg
        self.net = SegNetNet(self.num_classes, _coils(self), int(c.get("num_cascades", 5)),
                             int(c.get("channels", 32)), int(c.get("pooling_layers", 4)),
                             float(c.get("dropout", 0.0)), bool(c.get("normalize", True)),
                             bool(c.get("residual", False)), self.fft_kw)


class RecSegUNet(MultiTaskModel):
    """A reconstruction U-Net and a segmentation U-Net in series (Sui et al. 2021, Med. Phys.).

    Config: ``reconstruction_channels`` (32), ``reconstruction_pools`` (4),
    ``segmentation_channels`` (32), ``segmentation_pools`` (4), ``dropout`` (0),
    ``phase_equivariant`` (False: REC's NormUnet option).
    """

    def build_networks(self) -> None:
        """Build the two U-Nets."""
        c = self.cfg
        self.net = RecSegUNetNet(self.num_classes, int(c.get("reconstruction_channels", 32)),
                                 int(c.get("reconstruction_pools", 4)),
                                 int(c.get("segmentation_channels", 32)),
                                 int(c.get("segmentation_pools", 4)),
                                 float(c.get("dropout", 0.0)),
                                 bool(c.get("phase_equivariant", False)))

    def run(self, batch: dict[str, Any]) -> JointEstimates:
        """``[x]`` and ``[s]`` from the zero-filled image."""
        recon, logits = self.net(batch["initial_image"])
        return JointEstimates([recon], [logits])


class SERANet(MultiTaskModel):
    """End-to-end recurrent attention network (Huang et al. 2019, MICCAI).

    Config: ``num_reconstruction_blocks`` (3), ``reconstruction_channels`` (18),
    ``reconstruction_pools`` (4), ``segmentation_channels`` (32), ``segmentation_pools`` (3),
    ``recurrent_iterations`` (3), ``recurrent_channels`` (16), ``phase_equivariant`` (False:
    REC's VarNet option).
    """

    def build_networks(self) -> None:
        """Build the VarNet cascades, the U-Net and the recurrent attention module."""
        c = self.cfg
        self.net = SERANetNet(self.num_classes, int(c.get("num_reconstruction_blocks", 3)),
                              int(c.get("reconstruction_channels", 18)),
                              int(c.get("reconstruction_pools", 4)),
                              int(c.get("segmentation_channels", 32)),
                              int(c.get("segmentation_pools", 3)),
                              int(c.get("recurrent_iterations", 3)),
                              int(c.get("recurrent_channels", 16)),
                              self.label_mode == "multilabel", self.fft_kw,
                              bool(c.get("phase_equivariant", False)))

    def run(self, batch: dict[str, Any]) -> JointEstimates:
        """``[x]`` and the logits of the U-Net and of every attention iteration."""
        recs, segs = self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"])
        return JointEstimates(recs, segs)


MODELS: dict[str, type[MultiTaskModel]] = {
    cls.__name__: cls for cls in (IDSLR, IDSLRUNet, MTLRS, RecSegUNet, SegNet, SERANet)}
