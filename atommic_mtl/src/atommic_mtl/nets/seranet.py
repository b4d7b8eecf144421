"""SERANet: unrolled reconstruction, U-Net segmentation and a recurrent attention refinement.

Reference: Q. Huang, X. Chen, D. Metaxas, M. S. Nadar, "Brain Segmentation from k-Space with
End-to-End Recurrent Attention Network", MICCAI 2019, LNCS 11766, 275-283,
doi:10.1007/978-3-030-32248-9_31. The recurrent state is a convolutional LSTM (Shi et al.,
"Convolutional LSTM Network", NeurIPS 2015).
"""

from __future__ import annotations

import torch
from torch import nn

from atommic_mtl.nets.mtlrs import segmentation_probabilities
from atommic_mtl.nets.parts import pad_to_multiple, unpad
from atommic_rec.nets import VarNetNet
from atommic_rec.physics import complex_to_channels
from atommic_seg.nets import UNetND
from atommic_seg.nets.blocks import AttentionGate

__all__ = ["ConvLSTMCell", "SERANetNet"]


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell: gates ``i, f, o, g`` from one convolution of ``[x, h]``.

    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``.

    Args:
        in_chans: Input channels.
        hidden_chans: Hidden (and cell) state channels.
        kernel_size: Odd kernel size of the gate convolution.
    """

    def __init__(self, in_chans: int, hidden_chans: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.gates = nn.Conv2d(in_chans + hidden_chans, 4 * hidden_chans, kernel_size,
                               padding=kernel_size // 2)
        self.hidden_chans = hidden_chans

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ``[B, in_chans, H, W]`` and ``(h, c)`` (None = zeros) -> new ``(h, c)``."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_chans, *x.shape[-2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


class SERANetNet(nn.Module):
    """Reconstruct (REC's VarNet cascades), segment (SEG's U-Net), refine recurrently.

    The recurrent attention module runs ``recurrent_iterations`` times: the current class
    probabilities gate the reconstruction (SEG's additive
    :class:`~atommic_seg.nets.blocks.AttentionGate`, Oktay et al. 2018), a ConvLSTM carries
    what was attended to from one iteration to the next, and a small U-Net turns its state
    into refined logits. Every iteration's logits are returned (deep supervision through
    ``segmentation_intermediate_loss_weighting``).

    Args:
        num_classes: Segmentation classes.
        num_reconstruction_blocks: VarNet cascades.
        reconstruction_chans: NormUnet channels of each cascade.
        reconstruction_pools: NormUnet pooling levels.
        segmentation_channels: Segmentation U-Net channels.
        segmentation_pools: Segmentation U-Net pooling levels (also of the refinement U-Net).
        recurrent_iterations: Attention iterations.
        recurrent_channels: ConvLSTM state channels (and refinement U-Net channels).
        multilabel: Probabilities by sigmoid instead of softmax.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        phase_equivariant: REC's phase-equivariant VarNet cascades (the reconstruction
            rotates with a global phase of the data).
    """

    def __init__(self, num_classes: int, num_reconstruction_blocks: int = 3,
                 reconstruction_chans: int = 18, reconstruction_pools: int = 4,
                 segmentation_channels: int = 32, segmentation_pools: int = 3,
                 recurrent_iterations: int = 3, recurrent_channels: int = 16,
                 multilabel: bool = False, fft_kw: dict | None = None,
                 phase_equivariant: bool = False) -> None:
        super().__init__()
        self.reconstruction = VarNetNet(num_reconstruction_blocks, reconstruction_chans,
                                        reconstruction_pools, fft_kw=fft_kw,
                                        phase_equivariant=phase_equivariant)
        self.segmentation = UNetND(2, 1, num_classes, channels=segmentation_channels,
                                   num_pool_layers=segmentation_pools)
        self.attention = AttentionGate(2, 3, num_classes, recurrent_channels)
        self.memory = ConvLSTMCell(3 + num_classes, recurrent_channels)
        self.refine = UNetND(2, recurrent_channels, num_classes, channels=recurrent_channels,
                             num_pool_layers=segmentation_pools)
        self.iterations, self.multilabel = recurrent_iterations, multilabel
        self.multiple = 2**segmentation_pools

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Reconstruct and segment.

        Args:
            masked_kspace: complex64 ``[B, C, H, W]``.
            sensitivity_maps: complex64 ``[B, C, H, W]``.
            mask: float, broadcastable to ``[B, C, H, W]``.

        Returns:
            ``[reconstruction]`` (complex ``[B, H, W]``) and the logits of the segmentation
            U-Net and of every attention iteration, ``[B, K, H, W]`` each.
        """
        recon = self.reconstruction(masked_kspace, sensitivity_maps, mask)
        image = torch.cat([recon.abs().unsqueeze(1), complex_to_channels(recon)], dim=1).float()
        image, pad = pad_to_multiple(image, self.multiple)
        logits = [self.segmentation(image[:, :1])]
        state = None
        for _ in range(self.iterations):
            probs = segmentation_probabilities(logits[-1], self.multilabel)
            attended = self.attention(image, probs)
            state = self.memory(torch.cat([attended, probs], dim=1), state)
            logits.append(self.refine(state[0]))
        return [recon], [unpad(x, pad) for x in logits]
