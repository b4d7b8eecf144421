"""Convolutional recurrent cells (ConvGRU, IndRNN) and the conv + nonlinearity layer of RIMs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvGRUCell", "ConvNonlinear", "IndRNNCell", "build_recurrent_cell"]


class _ReplicatePadConv2d(torch.autograd.Function):
    """Replicate-pad then convolve, keeping the *unpadded* input for the backward pass.

    ``conv2d(pad(x))`` through autograd keeps the padded copy of ``x`` alive until the
    backward pass; in a RIM that is one extra activation-sized buffer per convolution and time
    step (a third of the stored activations), while ``x`` itself is kept anyway (it is a cell's
    output). Here the padding is redone in the backward pass (a copy, far cheaper than the
    convolution), so only ``x`` and the weight are stored. Same values and gradients.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, pad: int, dilation: int):
        ctx.save_for_backward(x, weight)
        ctx.pad, ctx.dilation, ctx.has_bias = pad, dilation, bias is not None
        return F.conv2d(F.pad(x, [pad] * 4, mode="replicate"), weight, bias, dilation=dilation)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        # under autocast the convolution ran in a lower precision (the gradient's dtype)
        x_low = x.to(grad.dtype)  # no copy without autocast
        padded = F.pad(x_low, [ctx.pad] * 4, mode="replicate")
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_padded, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad, padded, weight.to(grad.dtype), [weight.shape[0]] if ctx.has_bias else None,
            [1, 1], [0, 0], [ctx.dilation] * 2, False, [0, 0], 1,
            [need_x, need_w, need_b and ctx.has_bias])
        grad_x = (torch.ops.aten.replication_pad2d_backward(grad_padded, x_low, [ctx.pad] * 4)
                  .to(x.dtype) if need_x else None)
        return (grad_x, grad_w.to(weight.dtype) if need_w else None,
                grad_b.to(weight.dtype) if grad_b is not None else None, None, None)


class ConvNonlinear(nn.Module):
    """A 2D convolution with replication padding ("same" size) and an optional ReLU.

    Args:
        in_chans: Input channels.
        out_chans: Output channels.
        kernel_size: Square kernel size (odd).
        dilation: Dilation.
        bias: Use a bias.
        relu: Apply a ReLU after the convolution.
    """

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int, dilation: int = 1,
                 bias: bool = True, relu: bool = True) -> None:
        super().__init__()
        self.pad = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_chans, out_chans, kernel_size, dilation=dilation, bias=bias)
        self.relu = relu
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")
        if bias:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in_chans, H, W] -> [N, out_chans, H, W]."""
        if self.pad:
            x = _ReplicatePadConv2d.apply(x, self.conv.weight, self.conv.bias, self.pad,
                                          self.conv.dilation[0])
        else:
            x = self.conv(x)
        # in place: a convolution does not keep its output for the backward pass
        return x.relu_() if self.relu else x


class IndRNNCell(nn.Module):
    """Convolutional independently recurrent cell ``h' = relu(W * x + u . h)`` (Li et al., 2018).

    Args:
        in_chans: Input channels.
        hidden_chans: Hidden-state channels.
        kernel_size: Kernel of the input convolution.
        dilation: Dilation of the input convolution.
        bias: Use a bias in the input convolution.
    """

    def __init__(self, in_chans: int, hidden_chans: int, kernel_size: int = 1, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        self.ih = nn.Conv2d(in_chans, hidden_chans, kernel_size,
                            padding=dilation * (kernel_size - 1) // 2, dilation=dilation, bias=bias)
        std = 1.0 / (hidden_chans * (1 + kernel_size**2))
        self.hh = nn.Parameter(torch.randn(1, hidden_chans, 1, 1) * std)
        nn.init.normal_(self.ih.weight, std=std)
        if bias:
            nn.init.zeros_(self.ih.bias)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Input [N, in_chans, H, W] and state [N, hidden_chans, H, W] -> new state."""
        # one buffer, updated in place (autograd keeps only ``hidden`` and the result): the
        # convolution does not save its output, addcmul_ saves ``hh`` and ``hidden``
        return self.ih(x).addcmul_(self.hh, hidden).relu_()


class ConvGRUCell(nn.Module):
    """Convolutional gated recurrent unit (Ballas et al., 2016).

    Args:
        in_chans: Input channels.
        hidden_chans: Hidden-state channels.
        kernel_size: Kernel of both convolutions.
        dilation: Dilation of both convolutions.
        bias: Use biases.
    """

    def __init__(self, in_chans: int, hidden_chans: int, kernel_size: int = 1, dilation: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        pad = dilation * (kernel_size - 1) // 2
        self.ih = nn.Conv2d(in_chans, 3 * hidden_chans, kernel_size, padding=pad,
                            dilation=dilation, bias=bias)
        self.hh = nn.Conv2d(hidden_chans, 3 * hidden_chans, kernel_size, padding=pad,
                            dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Input [N, in_chans, H, W] and state [N, hidden_chans, H, W] -> new state."""
        xr, xz, xn = self.ih(x).chunk(3, dim=1)
        hr, hz, hn = self.hh(hidden).chunk(3, dim=1)
        reset = torch.sigmoid(xr + hr)
        update = torch.sigmoid(xz + hz)
        candidate = torch.tanh(xn + reset * hn)
        return (1 - update) * candidate + update * hidden


_CELLS = {"indrnn": IndRNNCell, "gru": ConvGRUCell}


def build_recurrent_cell(name: str, in_chans: int, hidden_chans: int, kernel_size: int = 1,
                         dilation: int = 1, bias: bool = True) -> nn.Module:
    """Build a recurrent cell by name (``IndRNN`` or ``GRU``, case-insensitive).

    Args:
        name: Cell type.
        in_chans: Input channels.
        hidden_chans: Hidden-state channels.
        kernel_size: Kernel size.
        dilation: Dilation.
        bias: Use biases.

    Returns:
        The cell module.
    """
    cls = _CELLS.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown recurrent_layer {name!r}; expected one of: IndRNN, GRU")
    return cls(in_chans, hidden_chans, kernel_size, dilation, bias)
