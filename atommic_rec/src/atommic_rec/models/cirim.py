"""CIRIM and RIM models.

References: D. Karkalousos et al., "Assessment of data consistency through cascades of
independently recurrent inference machines for fast and robust accelerated MRI
reconstruction", Phys. Med. Biol. 67 (2022) 124001; K. Lonning et al., "Recurrent inference
machines for reconstructing heterogeneous MRI data", Med. Image Anal. 53 (2019) 64-78.
"""

from __future__ import annotations

from typing import Any

import torch

from atommic_rec.models.base import ReconstructionModel
from atommic_rec.nets import CIRIMNet

__all__ = ["CIRIM", "RIM"]

# what the backward pass recomputes instead of storing: (whole cascades, single time steps)
RECOMPUTE = {"none": (False, False), "cascades": (True, False), "steps": (False, True),
             "cascades+steps": (True, True)}

_LISTS = {"conv_filters": (64, 64, 2), "conv_kernels": (5, 3, 3), "conv_dilations": (1, 2, 1),
          "conv_bias": (True, True, False), "recurrent_filters": (64, 64, 0),
          "recurrent_kernels": (1, 1, 0), "recurrent_dilations": (1, 1, 0),
          "recurrent_bias": (True, True, False)}


class CIRIM(ReconstructionModel):
    """Cascades of independently recurrent inference machines.

    Config: ``num_cascades`` (5), ``time_steps`` (8), ``recurrent_layer`` (``IndRNN`` or
    ``GRU``), the ATOMMIC layer lists ``conv_filters``, ``conv_kernels``, ``conv_dilations``,
    ``conv_bias``, ``recurrent_filters``, ``recurrent_kernels``, ``recurrent_dilations``,
    ``recurrent_bias``, ``sigma`` (1.0, > 0: the likelihood gradient is divided by
    ``sigma^2``), ``memory_efficient`` (True: recompute in the backward pass instead of storing
    activations; False = ``recompute: none``), ``recompute`` (what is recomputed when
    ``memory_efficient``: ``cascades`` (default: one cascade's activations are stored at a
    time, about one extra forward), ``cascades+steps`` (each cascade and each time step: a
    little less memory, about two extra forwards), ``steps`` or ``none``; measured costs in
    docs/rec_models.md),
    ``phase_equivariant`` (False: exact equivariance to a global phase of the data, see
    :class:`~atommic_rec.nets.CIRIMNet`).
    The loss weighs every time step of every cascade (``intermediate_loss_weighting``;
    ``logspace`` = ATOMMIC's log-spaced weights over cascades times those over time steps).
    ATOMMIC's reference config gives 264,960 parameters.
    """

    fixed_cascades: int | None = None

    def build_networks(self) -> None:
        """Build the RIM cascades."""
        c = self.cfg
        lists = {k: tuple(c.get(k, v)) for k, v in _LISTS.items()}
        cascades = self.fixed_cascades or int(c.get("num_cascades", 5))
        self.sigma = float(c.get("sigma", 1.0))
        if not self.sigma > 0:
            raise ValueError(f"{type(self).__name__}: expected model.sigma > 0 (the noise "
                             f"standard deviation of the likelihood); found {self.sigma}")
        efficient = bool(c.get("memory_efficient", True))
        mode = str(c.get("recompute", "cascades")) if efficient else "none"
        if mode not in RECOMPUTE:
            raise ValueError(f"{type(self).__name__}: expected model.recompute in "
                             f"{', '.join(RECOMPUTE)}; found {mode!r}")
        by_cascade, by_step = RECOMPUTE[mode]
        if by_cascade and cascades == 1:  # a single cascade: recompute its steps instead
            by_cascade, by_step = False, True
        self.net = CIRIMNet(cascades, checkpoint_cascades=by_cascade,
                            recurrent_layer=str(c.get("recurrent_layer", "IndRNN")),
                            time_steps=int(c.get("time_steps", 8)), checkpointing=by_step,
                            phase_equivariant=bool(c.get("phase_equivariant", False)),
                            fft_kw=self.fft_kw, **lists)

    def reconstruct(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        """Every time step of every cascade, in order; the last is the reconstruction."""
        estimates = self.net(batch["masked_kspace"], batch["sensitivity_maps"], batch["mask"],
                             batch["initial_image"], self.sigma)
        return [e for cascade in estimates for e in cascade]

    def estimate_levels(self, num_estimates: int) -> tuple[int, ...]:
        """``(cascades, time_steps)``: ATOMMIC's log-spaced weights over both."""
        cascades = len(self.net.cascades)
        return (cascades, num_estimates // cascades)


class RIM(CIRIM):
    """A recurrent inference machine: CIRIM with one cascade (``num_cascades`` is ignored)."""

    fixed_cascades = 1
