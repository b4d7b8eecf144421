"""qCIRIM and qRIM models (Zhang et al., NeuroImage 264 (2022) 119680)."""

from __future__ import annotations

from typing import Any

import torch

from atommic_qi.models.base import QuantitativeModel
from atommic_qi.nets import QCIRIMNet

__all__ = ["qCIRIM", "qRIM"]

_LISTS = {"conv_filters": (64, 64, 4), "conv_kernels": (5, 3, 3), "conv_dilations": (1, 2, 1),
          "conv_bias": (True, True, False), "recurrent_filters": (64, 64, 0),
          "recurrent_kernels": (1, 1, 0), "recurrent_dilations": (1, 1, 0),
          "recurrent_bias": (True, True, False)}


class qCIRIM(QuantitativeModel):  # noqa: N801 - ATOMMIC's model name
    """Cascades of quantitative RIMs refining the fitted maps with the likelihood gradient.

    Config: ``num_cascades`` (5), ``time_steps`` (8), ``recurrent_layer`` (``IndRNN`` or
    ``GRU``), the ATOMMIC layer lists ``conv_filters`` (last = 4 maps), ``conv_kernels``,
    ``conv_dilations``, ``conv_bias``, ``recurrent_filters``, ``recurrent_kernels``,
    ``recurrent_dilations``, ``recurrent_bias``, ``memory_efficient`` (True: recompute time
    steps and cascades in the backward pass), ``zero_init`` (False: zero the last convolution
    so training starts from the fitted maps; helps short trainings such as the demo). Every
    time step of every cascade enters the loss (``intermediate_loss_weighting``). ATOMMIC's
    AHEAD config (5 cascades, 64 filters) gives 302,720 parameters.
    """

    fixed_cascades: int | None = None

    def build_networks(self) -> None:
        """Build the qRIM cascades."""
        c = self.cfg
        lists = {k: tuple(c.get(k, v)) for k, v in _LISTS.items()}
        cascades = self.fixed_cascades or int(c.get("num_cascades", 5))
        efficient = bool(c.get("memory_efficient", True))
        self.net = QCIRIMNet(cascades, checkpoint_cascades=efficient and cascades > 1,
                             recurrent_layer=str(c.get("recurrent_layer", "IndRNN")),
                             time_steps=int(c.get("time_steps", 8)), checkpointing=efficient,
                             fft_kw=self.fft_kw, signal_model=self.signal_model,
                             scales=self.map_scales, zero_init=bool(c.get("zero_init", False)),
                             ranges=self.map_ranges, **lists)

    def refine(self, maps: torch.Tensor, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Every time step of every cascade, in order."""
        estimates = self.net(maps, batch["masked_kspace"], batch["sensitivity_maps"],
                             batch["mask"], batch["TEs"], self.sigma)
        return [e for cascade in estimates for e in cascade]


class qRIM(qCIRIM):  # noqa: N801 - ATOMMIC's model name
    """A quantitative RIM: qCIRIM with one cascade (``num_cascades`` is ignored)."""

    fixed_cascades = 1
