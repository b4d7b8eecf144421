"""MTLRS: CIRIM reconstruction cascades alternating with a segmentation network.

Reference: D. Karkalousos, I. Išgum, H. A. Marquering, M. W. A. Caan, "ATOMMIC: An Advanced
Toolbox for Multitask Medical Imaging Consistency to facilitate Artificial Intelligence
applications from Medical Imaging", arXiv:2404.19665 (2024), and "MultiTask Learning for
accelerated-MRI Reconstruction and Segmentation of Brain Lesions in Multiple Sclerosis",
MIDL 2023 (PMLR 227).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from atommic_mtl.nets.parts import pad_to_multiple, unpad
from atommic_rec.nets import RIMBlock, at_least_complex64, global_phase
from atommic_rec.physics import complex_to_channels
from atommic_seg.nets import UNetND

__all__ = ["MTLRSBlock", "MTLRSNet", "adapt_hidden_states", "segmentation_probabilities"]


def segmentation_probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Softmax over classes (multiclass) or a sigmoid per channel (multilabel), in [0, 1]."""
    return logits.sigmoid() if multilabel else logits.softmax(dim=1)


def adapt_hidden_states(hidden: Sequence[torch.Tensor], image: torch.Tensor,
                        probabilities: torch.Tensor) -> list[torch.Tensor]:
    """MTLRS task adaptation: add the segmentation-weighted image to every hidden state.

    ``h_l <- h_l + [|x| p_1, ..., |x| p_K, |x| p_1, ...]``: the magnitude of the estimate
    ``x`` times each class probability ``p_k``, the ``K`` maps repeated ``F_l // K`` times
    and zero-padded to the ``F_l`` channels of the hidden state ``h_l`` (ATOMMIC's
    ``multi_task_learning`` adaptation; it uses the batch-min-max-normalised network output
    where this uses class probabilities, also in [0, 1] but per pixel).

    Args:
        hidden: Hidden states ``[B, F_l, H, W]`` of the recurrent layers.
        image: The current estimate, complex ``[B, H, W]``.
        probabilities: ``[B, K, H, W]`` in [0, 1].

    Returns:
        The adapted hidden states (new tensors).
    """
    attention = image.abs().unsqueeze(1).to(probabilities.dtype) * probabilities
    k = attention.shape[1]
    out = []
    for h in hidden:
        reps = h.shape[1] // k
        term = attention.repeat(1, reps, 1, 1) if reps else attention[:, :0]
        term = nn.functional.pad(term, [0, 0, 0, 0, 0, h.shape[1] - term.shape[1]])
        out.append(h + term.to(h.dtype))
    return out


class MTLRSBlock(nn.Module):
    """One joint block: ``num_cascades`` RIMs, then a segmentation U-Net on the final estimate.

    The RIMs are REC's :class:`~atommic_rec.nets.RIMBlock`, the U-Net SEG's
    :class:`~atommic_seg.nets.UNetND`.

    Args:
        num_classes: Segmentation output channels.
        num_cascades: RIM cascades (a CIRIM; hidden states carry from one to the next).
        segmentation_channels: U-Net channels of the first level.
        segmentation_pools: U-Net pooling levels.
        complex_input: Segment the complex estimate (2 channels) instead of its magnitude.
        checkpoint_cascades: Recompute each cascade in the backward pass.
        **rim_kwargs: Arguments of :class:`~atommic_rec.nets.RIMBlock`.
    """

    def __init__(self, num_classes: int, num_cascades: int = 1, segmentation_channels: int = 16,
                 segmentation_pools: int = 2, complex_input: bool = False,
                 checkpoint_cascades: bool = False, **rim_kwargs: Any) -> None:
        super().__init__()
        self.cascades = nn.ModuleList(RIMBlock(**rim_kwargs) for _ in range(num_cascades))
        self.segmentation = UNetND(2, 2 if complex_input else 1, num_classes,
                                   channels=segmentation_channels,
                                   num_pool_layers=segmentation_pools)
        self.complex_input = complex_input
        self.multiple = 2**segmentation_pools
        self.checkpoint_cascades = checkpoint_cascades

    def segment(self, image: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K, H, W]`` of a complex estimate ``[B, H, W]``."""
        x = complex_to_channels(image) if self.complex_input else image.abs().unsqueeze(1)
        x, pad = pad_to_multiple(x.float(), self.multiple)
        return unpad(self.segmentation(x), pad)

    def forward(self, image: torch.Tensor, masked_kspace: torch.Tensor,
                sensitivity_maps: torch.Tensor, mask: torch.Tensor,
                hidden: list[torch.Tensor] | None, sigma: float = 1.0
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Reconstruct from ``image`` then segment the result.

        Returns:
            Every time-step estimate of every cascade (complex ``[B, H, W]``), the hidden
            states and the segmentation logits.
        """
        estimates: list[torch.Tensor] = []
        for cascade in self.cascades:
            if self.checkpoint_cascades and torch.is_grad_enabled():
                steps, hidden = checkpoint(cascade, image, masked_kspace, sensitivity_maps, mask,
                                           hidden, sigma, use_reentrant=False)
            else:
                steps, hidden = cascade(image, masked_kspace, sensitivity_maps, mask, hidden,
                                        sigma)
            estimates += steps
            image = steps[-1]
        return estimates, hidden, self.segment(image)


class MTLRSNet(nn.Module):
    """``joint_cascades`` MTLRS blocks; each starts from the previous block's reconstruction.

    Block ``j`` reconstructs with CIRIM cascades, segments its estimate, and (with
    ``task_adaptation``) hands the next block hidden states to which the segmentation-
    weighted image was added (:func:`adapt_hidden_states`), so reconstruction attends to the
    segmented anatomy and segmentation sees an ever better image.

    Args:
        num_classes: Segmentation classes.
        joint_cascades: Number of MTLRS blocks.
        num_cascades: RIM cascades per block.
        task_adaptation: Adapt the hidden states between blocks.
        multilabel: Probabilities by sigmoid (else softmax) for the adaptation.
        segmentation_channels: Segmentation U-Net channels.
        segmentation_pools: Segmentation U-Net pooling levels.
        complex_input: Segment the complex estimate instead of its magnitude.
        checkpoint_cascades: Recompute cascades in the backward pass.
        phase_equivariant: Remove the global phase of ``initial_image`` (REC's
            :func:`~atommic_rec.nets.global_phase`) from the data before the blocks and
            restore it on the reconstructions, as REC's CIRIM does: reconstructions rotate
            with a global phase of the data and segmentations do not change.
        **rim_kwargs: Arguments of :class:`~atommic_rec.nets.RIMBlock`.

    Example:
        >>> net = MTLRSNet(3, joint_cascades=2, conv_filters=(4, 4, 2),
        ...                recurrent_filters=(4, 4, 0), time_steps=2)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> s = torch.ones(1, 2, 8, 8, dtype=torch.complex64)
        >>> x0 = torch.zeros(1, 8, 8, dtype=torch.complex64)
        >>> recs, segs = net(y, s, torch.ones(1, 1, 1, 8), x0)
        >>> len(recs), len(segs), segs[-1].shape
        (4, 2, torch.Size([1, 3, 8, 8]))
    """

    def __init__(self, num_classes: int, joint_cascades: int = 2, num_cascades: int = 1,
                 task_adaptation: bool = True, multilabel: bool = False,
                 segmentation_channels: int = 16, segmentation_pools: int = 2,
                 complex_input: bool = False, checkpoint_cascades: bool = False,
                 phase_equivariant: bool = False, **rim_kwargs: Any) -> None:
        super().__init__()
        if joint_cascades < 1 or num_cascades < 1:
            raise ValueError(f"MTLRSNet: expected joint_cascades >= 1 and num_cascades >= 1; "
                             f"found {joint_cascades} and {num_cascades}")
        self.blocks = nn.ModuleList(
            MTLRSBlock(num_classes, num_cascades, segmentation_channels, segmentation_pools,
                       complex_input, checkpoint_cascades, **rim_kwargs)
            for _ in range(joint_cascades))
        self.task_adaptation = task_adaptation
        self.multilabel = multilabel
        self.phase_equivariant = bool(phase_equivariant)

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor, initial_image: torch.Tensor, sigma: float = 1.0
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Reconstruct and segment, keeping every intermediate estimate.

        Args:
            masked_kspace: complex64 ``[B, C, H, W]``.
            sensitivity_maps: complex64 ``[B, C, H, W]``.
            mask: float, broadcastable to ``[B, C, H, W]``.
            initial_image: complex64 ``[B, H, W]``.
            sigma: Noise level of the RIM likelihood.

        Returns:
            All reconstructions (complex ``[B, H, W]``, every time step of every cascade of
            every block, final last) and the segmentation logits of every block.
        """
        image = at_least_complex64(initial_image)
        masked_kspace = at_least_complex64(masked_kspace)
        rotation = global_phase(image) if self.phase_equivariant else None
        if rotation is not None:
            image = image * rotation.conj()
            masked_kspace = masked_kspace * rotation.conj().unsqueeze(-3)
        hidden = None
        reconstructions: list[torch.Tensor] = []
        segmentations: list[torch.Tensor] = []
        for j, block in enumerate(self.blocks):
            estimates, hidden, logits = block(image, masked_kspace, sensitivity_maps, mask,
                                              hidden, sigma)
            reconstructions += estimates
            segmentations.append(logits)
            image = estimates[-1]
            if self.task_adaptation and j + 1 < len(self.blocks):
                hidden = adapt_hidden_states(
                    hidden, image, segmentation_probabilities(logits, self.multilabel))
        if rotation is not None:
            reconstructions = [r * rotation for r in reconstructions]
        return reconstructions, segmentations
