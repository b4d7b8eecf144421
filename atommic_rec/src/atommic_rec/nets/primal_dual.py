"""Unrolled learned primal-dual iterations on the multi-coil SENSE operator (LPDNet, XPDNet).

References: J. Adler and O. Oktem, "Learned Primal-Dual Reconstruction", IEEE Trans. Med.
Imaging 37(6), 1322-1332, 2018, arXiv:1707.06474; Z. Ramzi, P. Ciuciu and J.-L. Starck,
"XPDNet for MRI Reconstruction: an application to the 2020 fastMRI challenge",
arXiv:2010.07290, 2020.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64
from atommic_rec.physics import adjoint_operator, forward_operator

__all__ = ["PrimalDualNet"]


class PrimalDualNet(nn.Module):
    """Primal buffer ``f`` (P images) and dual buffer ``h`` (D multi-coil k-spaces), unrolled.

    With ``A = M F S``, iteration ``i`` updates (Adler and Oktem's Algorithm 3, residual form)::

        h <- h + Gamma_i([h, A f_fwd, y])      (on every coil)
        f <- f + Lambda_i([f, A^H h_adj])

    from ``f = [A^H y] * P`` and ``h = 0``; the output is ``f[0]``. For the learned primal-dual
    (``cross_all=False``) ``f_fwd`` is ``f[1]`` (``f[0]`` when P = 1) and ``h_adj`` is
    ``h[0]``; for XPDNet's cross-domain form (``cross_all=True``) they are all of ``f`` and
    all of ``h``. Without dual networks (XPDNet's "primal only") the dual step is the data
    residual ``h = A f[0] - y`` (D = 1), so each primal step is a learned gradient step.

    Args:
        primal_nets: ``Lambda_i``: complex [B, P + P_adj, H, W] -> complex [B, P, H, W]; one
            per iteration, or one shared by all.
        dual_nets: ``Gamma_i``: complex [N, D + P_fwd + 1, H, W] -> complex [N, D, H, W]
            (coils folded into N), as many as ``primal_nets``; None for "primal only".
        num_iter: Number of iterations.
        num_primal: P.
        num_dual: D (1 without dual networks).
        cross_all: Feed all primal (dual) channels through ``A`` (``A^H``).
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.
        gated: Scale each update by a learned scalar that starts at zero (ReZero; Bachlechner
            et al., arXiv:2003.04887): ``f <- f + g_i Lambda_i(...)``, likewise ``h``. The
            network then starts exactly at the zero-filled SENSE image ``A^H y`` and learns
            how far to move from it; 2 parameters per iteration (not in ATOMMIC).
    """

    def __init__(self, primal_nets: Sequence[nn.Module], dual_nets: Sequence[nn.Module] | None,
                 num_iter: int, num_primal: int, num_dual: int, cross_all: bool = False,
                 fft_kw: dict[str, Any] | None = None, gated: bool = False) -> None:
        super().__init__()
        if num_iter < 1 or num_primal < 1 or num_dual < 1:
            raise ValueError(f"PrimalDualNet: expected num_iter, num_primal and num_dual >= 1, "
                             f"found {num_iter}, {num_primal}, {num_dual}")
        if dual_nets is None and num_dual != 1:
            raise ValueError(f"PrimalDualNet: without dual networks num_dual must be 1 (the data "
                             f"residual), found {num_dual}")
        self.primal_nets = nn.ModuleList(primal_nets)
        self.dual_nets = nn.ModuleList(dual_nets) if dual_nets is not None else None
        self.num_iter, self.num_primal, self.num_dual = int(num_iter), num_primal, num_dual
        self.cross_all = cross_all
        self.fft_kw = dict(fft_kw or {})
        # [primal, dual] update scale per iteration
        self.gates = nn.Parameter(torch.zeros(self.num_iter, 2)) if gated else None

    def _gate(self, update: torch.Tensor, i: int, which: int) -> torch.Tensor:
        return update if self.gates is None else update * self.gates[i, which]

    def _net(self, nets: nn.ModuleList, i: int) -> nn.Module:
        return nets[i % len(nets)]

    def forward(self, masked_kspace: torch.Tensor, sensitivity_maps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct the coil-combined image.

        Args:
            masked_kspace: Measured ``y``, complex64 [B, C, H, W].
            sensitivity_maps: Coil maps ``S``, complex64 [B, C, H, W].
            mask: Sampling mask ``M``, float, broadcastable to [B, C, H, W].

        Returns:
            ``f[0]`` after the last iteration, complex64 [B, H, W].
        """
        y = at_least_complex64(masked_kspace)

        def forward_op(images: torch.Tensor) -> torch.Tensor:  # [B, K, H, W] -> [B, K, C, H, W]
            return torch.stack([forward_operator(im, sensitivity_maps, mask, **self.fft_kw)
                                for im in images.unbind(1)], dim=1)

        def adjoint_op(kspaces: torch.Tensor) -> torch.Tensor:  # [B, K, C, H, W] -> [B, K, H, W]
            return torch.stack([adjoint_operator(k, sensitivity_maps, mask, **self.fft_kw)
                                for k in kspaces.unbind(1)], dim=1)

        primal = adjoint_op(y.unsqueeze(1)).repeat(1, self.num_primal, 1, 1)
        dual = y.new_zeros((y.shape[0], self.num_dual, *y.shape[1:]))
        second = min(1, self.num_primal - 1)
        for i in range(self.num_iter):
            f_fwd = primal if self.cross_all else primal[:, second: second + 1]
            if self.dual_nets is None:
                dual = forward_op(primal[:, :1]) - y.unsqueeze(1)
            else:
                inputs = torch.cat([dual, forward_op(f_fwd), y.unsqueeze(1)], dim=1)
                b, k, c, h, w = inputs.shape
                per_coil = inputs.transpose(1, 2).reshape(b * c, k, h, w)
                update = self._net(self.dual_nets, i)(per_coil)
                dual = dual + self._gate(update.reshape(b, c, -1, h, w).transpose(1, 2), i, 1)
            h_adj = dual if self.cross_all else dual[:, :1]
            inputs = torch.cat([primal, adjoint_op(h_adj)], dim=1)
            primal = primal + self._gate(self._net(self.primal_nets, i)(inputs), i, 0)
        return primal[:, 0]
