"""Cascades of independently recurrent inference machines (Karkalousos et al., 2022).

Reference: D. Karkalousos et al., "Assessment of data consistency through cascades of
independently recurrent inference machines for fast and robust accelerated MRI
reconstruction", Phys. Med. Biol. 67 (2022) 124001. A RIM is the one-cascade case.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from atommic_rec.nets._memory import release_cpu_memory
from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.nets.rim import RIMBlock
from atommic_rec.nets.unet import global_phase

__all__ = ["CIRIMNet"]


def _trimmed(cascade: nn.Module, *args: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Run a (checkpointed) cascade, then return freed heap pages to the OS.

    Runs in the forward pass and again in the backward pass (recomputation), so the pages of
    the cascade whose backward just finished are released before the next one is recomputed.
    """
    out = cascade(*args)
    release_cpu_memory(out[0][-1])
    return out


class CIRIMNet(nn.Module):
    """``num_cascades`` RIM blocks; each starts from the previous block's last estimate.

    Hidden states are carried from one cascade to the next (as in ATOMMIC's CIRIM).

    Args:
        num_cascades: Number of RIM blocks (1 = a plain RIM).
        checkpoint_cascades: Recompute each cascade in the backward pass, keeping only its
            inputs and outputs; with ``checkpointing=True`` for the time steps too, the peak
            memory no longer grows with ``time_steps`` (about two extra forwards of compute).
        phase_equivariant: Remove the global phase of ``initial_image`` (see
            :func:`~atommic_rec.nets.unet.global_phase`) from the data before the cascades and
            restore it after: ``net(e^{i phi} y, S, M, e^{i phi} x0) = e^{i phi} net(y, S, M,
            x0)`` exactly. It needs a complex initial image (SENSE; an RSS one has no phase).
        **rim_kwargs: Arguments of :class:`~atommic_rec.nets.rim.RIMBlock` (layer lists,
            ``time_steps``, ``checkpointing``, ``fft_kw``).

    Example:
        >>> net = CIRIMNet(2, conv_filters=(4, 4, 2), recurrent_filters=(4, 4, 0), time_steps=2)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 8, 8, dtype=torch.complex64)
        >>> out = net(y, s, torch.ones(1, 1, 1, 8), torch.zeros(1, 8, 8, dtype=torch.complex64))
        >>> len(out), len(out[0]), out[-1][-1].shape
        (2, 2, torch.Size([1, 8, 8]))
    """

    def __init__(self, num_cascades: int = 5, checkpoint_cascades: bool = False,
                 phase_equivariant: bool = False, **rim_kwargs: Any) -> None:
        super().__init__()
        if num_cascades < 1:
            raise ValueError(f"CIRIMNet: expected num_cascades >= 1, found {num_cascades}")
        self.cascades = nn.ModuleList(RIMBlock(**rim_kwargs) for _ in range(num_cascades))
        self.checkpoint_cascades = checkpoint_cascades
        self.phase_equivariant = bool(phase_equivariant)

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor, initial_image: torch.Tensor,
                sigma: float = 1.0) -> list[list[torch.Tensor]]:
        """Reconstruct, keeping every intermediate estimate.

        Args:
            masked_kspace: Measured k-space, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps, complex64 [B, C, H, W].
            mask: Sampling mask, float, broadcastable to [B, C, H, W].
            initial_image: Starting estimate (e.g. SENSE zero-filled), complex64 [B, H, W].
            sigma: Noise level of the likelihood.

        Returns:
            ``estimates[cascade][time_step]``, each complex64 [B, H, W]; the final
            reconstruction is ``estimates[-1][-1]``.
        """
        image = at_least_complex64(initial_image)
        masked_kspace = at_least_complex64(masked_kspace)
        rotation = global_phase(image) if self.phase_equivariant else None
        if rotation is not None:
            image = image * rotation.conj()
            masked_kspace = masked_kspace * rotation.conj().unsqueeze(-3)
        hidden = None
        estimates: list[list[torch.Tensor]] = []
        for cascade in self.cascades:
            if self.checkpoint_cascades and torch.is_grad_enabled():
                steps, hidden = checkpoint(_trimmed, cascade, image, masked_kspace,
                                           sensitivity_maps, mask, hidden, sigma,
                                           use_reentrant=False)
            else:
                steps, hidden = cascade(image, masked_kspace, sensitivity_maps, mask, hidden,
                                        sigma)
            estimates.append(steps)
            image = steps[-1]
        if rotation is not None:
            estimates = [[e * rotation for e in steps] for steps in estimates]
        return estimates
