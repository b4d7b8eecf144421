"""Global-phase removal for unrolled models whose regulariser is not phase equivariant.

MR images carry an arbitrary global phase and the SENSE physics commutes with it, so rotating
the data by the conjugate of the initial image's global phase, reconstructing, and rotating
back makes a whole network exactly equivariant: ``net(e^{i phi} y) = e^{i phi} net(y)``.
"""

from __future__ import annotations

import torch

from atommic_rec.nets.unet import global_phase

__all__ = ["remove_global_phase"]


def remove_global_phase(image: torch.Tensor, masked_kspace: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotate an image and its k-space by the conjugate of the image's global phase.

    Args:
        image: Complex [B, H, W] (e.g. the SENSE zero-filled image ``A^H y``).
        masked_kspace: Complex [B, C, H, W].

    Returns:
        ``(image, masked_kspace, rotation)``: the rotated pair and the unit phasor [B, 1, 1]
        to multiply the reconstruction by at the end.
    """
    rotation = global_phase(image)
    return image * rotation.conj(), masked_kspace * rotation.conj().unsqueeze(-3), rotation
