"""Joint-ICNet: joint image and coil-sensitivity reconstruction (Jun et al., CVPR 2021).

Reference: Y. Jun, H. Shin, T. Eo and D. Hwang, "Joint Deep Model-based MR Image and Coil
Sensitivity Reconstruction Network (Joint-ICNet) for Fast MRI", CVPR 2021, 5270-5279,
arXiv:2103.08613 (via the public record of the paper).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from atommic_rec.nets.consistency import at_least_complex64, log_likelihood_gradient
from atommic_rec.nets.sensitivity import SensitivityNet
from atommic_rec.nets.unet import NormUnet
from atommic_rec.physics import (
    channels_to_complex,
    complex_to_channels,
    fft2,
    ifft2,
    sense_expand,
    sense_reduce,
)

__all__ = ["JointICNetNet", "sensitivity_gradient"]


def sensitivity_gradient(image: torch.Tensor, sensitivity_maps: torch.Tensor,
                         masked_kspace: torch.Tensor, mask: torch.Tensor,
                         **fft_kw: Any) -> torch.Tensor:
    """Gradient of ``1/2 ||M F (S_c x) - y_c||^2`` with respect to the coil maps ``S_c``.

    ``F^-1 M (M F (S_c x) - y_c) * conj(x)`` for every coil ``c``.

    Args:
        image: ``x``, complex64 [B, H, W].
        sensitivity_maps: ``S``, complex64 [B, C, H, W].
        masked_kspace: ``y``, complex64 [B, C, H, W].
        mask: ``M`` (0/1), float, broadcastable to [B, C, H, W].
        **fft_kw: ``centered``, ``normalization``, ``spatial_dims`` of the FFT.

    Returns:
        Complex64 [B, C, H, W].
    """
    residual = mask * (mask * fft2(sense_expand(image, sensitivity_maps), **fft_kw) -
                       masked_kspace)
    return ifft2(residual, **fft_kw) * image.conj().unsqueeze(-3)


class JointICNetNet(nn.Module):
    """Alternating gradient steps on the coil maps and the image, with learned regularisers.

    From learned maps ``S_0 = SensNet(y)`` and ``x_0 = S_0^H F^-1 y``, for ``k = 0..K-1``::

        S_{k+1} = S_k - 2 eta_S,k [lam_C,k (S_k - S_0) + grad_S 1/2||M F S_k x_k - y||^2]
        x_{k+1} = x_k - 2 eta_x,k [lam_I,k (x_k - D_I(x_k))
                                   + lam_F,k (x_k - F^-1 D_F(F x_k))
                                   + A_{k+1}^H (A_{k+1} x_k - y)]

    with ``A_k = M F S_k``, image- and k-space NormUnets ``D_I``, ``D_F`` shared by all
    iterations, and a final 1x1 convolution on the real/imaginary channels (identity at
    start). All ``eta``, ``lam`` are learned per iteration, from ``step_init`` and
    ``reg_init`` (both 1 in ATOMMIC).

    Args:
        num_iter: Iterations ``K``.
        kspace_chans: Channels of ``D_F``.
        kspace_pools: Pooling levels of ``D_F``.
        image_chans: Channels of ``D_I``.
        image_pools: Pooling levels of ``D_I``.
        sens_chans: Channels of the sensitivity network.
        sens_pools: Pooling levels of the sensitivity network.
        step_init: Initial step sizes ``eta_x``, ``eta_S``.
        reg_init: Initial regularisation weights ``lam_I``, ``lam_F``, ``lam_C``.
        fft_kw: ``centered``/``normalization``/``spatial_dims`` of the FFT.

    Example:
        >>> net = JointICNetNet(num_iter=1, kspace_chans=4, image_chans=4, sens_chans=4)
        >>> y = torch.zeros(1, 2, 8, 8, dtype=torch.complex64)
        >>> net(y, torch.ones(1, 1, 1, 8)).shape
        torch.Size([1, 8, 8])
    """

    def __init__(self, num_iter: int = 2, kspace_chans: int = 16, kspace_pools: int = 2,
                 image_chans: int = 16, image_pools: int = 2, sens_chans: int = 16,
                 sens_pools: int = 2, step_init: float = 1.0, reg_init: float = 1.0,
                 fft_kw: dict[str, Any] | None = None) -> None:
        super().__init__()
        if num_iter < 1:
            raise ValueError(f"JointICNetNet: expected num_iter >= 1, found {num_iter}")
        self.fft_kw = dict(fft_kw or {})
        self.kspace_model = NormUnet(kspace_chans, kspace_pools)
        self.image_model = NormUnet(image_chans, image_pools)
        self.sens_net = SensitivityNet(sens_chans, sens_pools, fft_kw=self.fft_kw)
        self.conv_out = nn.Conv2d(2, 2, 1)
        with torch.no_grad():
            self.conv_out.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.conv_out.bias.zero_()
        for name in ("reg_param_I", "reg_param_F", "reg_param_C"):
            setattr(self, name, nn.Parameter(torch.full((num_iter,), float(reg_init))))
        self.lr_image = nn.Parameter(torch.full((num_iter,), float(step_init)))
        self.lr_sens = nn.Parameter(torch.full((num_iter,), float(step_init)))
        self.num_iter = num_iter

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruct (the coil maps are estimated, not given).

        Args:
            masked_kspace: ``y``, complex64 [B, C, H, W].
            mask: ``M`` (0/1), float, broadcastable to [B, C, H, W].

        Returns:
            ``x_K`` after the output convolution, complex64 [B, H, W].
        """
        y = at_least_complex64(masked_kspace)
        prior_maps = self.sens_net(y, mask)
        maps = prior_maps
        x = sense_reduce(ifft2(y, **self.fft_kw), maps)
        for k in range(self.num_iter):
            grad_s = sensitivity_gradient(x, maps, y, mask, **self.fft_kw)
            maps = maps - 2 * self.lr_sens[k] * (self.reg_param_C[k] * (maps - prior_maps) +
                                                 grad_s)
            denoised = at_least_complex64(self.image_model(x))
            kspace_denoised = ifft2(at_least_complex64(
                self.kspace_model(fft2(x, **self.fft_kw))), **self.fft_kw)
            grad_x = (self.reg_param_I[k] * (x - denoised) +
                      self.reg_param_F[k] * (x - kspace_denoised) +
                      log_likelihood_gradient(x, y, maps, mask, **self.fft_kw))
            x = x - 2 * self.lr_image[k] * grad_x
        return channels_to_complex(self.conv_out(complex_to_channels(x)))
