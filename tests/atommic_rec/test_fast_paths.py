"""The speed-optimised network paths equal straightforward reference implementations.

Each test runs the optimised module and a plain re-implementation (the textbook formula, NCHW,
out-of-place ops) on tiny tensors and compares outputs and gradients.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from atommic_rec.models import CIRIM
from atommic_rec.nets import CIRIMNet, ConvNonlinear, IndRNNCell, InstanceNorm2d, NormUnet, RIMBlock

SMALL_RIM = dict(conv_filters=(4, 4, 2), recurrent_filters=(4, 4, 0), time_steps=2)
SMALL_CIRIM = {"conv_filters": [4, 4, 2], "recurrent_filters": [4, 4, 0], "time_steps": 2}


def _cplx(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def _grads(module, *inputs):
    return [p.grad for p in module.parameters()] + [x.grad for x in inputs]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("fmt", [torch.channels_last, torch.contiguous_format])
def test_instance_norm_equals_the_formula_with_gradients(batch, fmt):
    x = torch.randn(batch, 5, 6, 7).contiguous(memory_format=fmt).requires_grad_()
    ref_x = x.detach().clone().requires_grad_()
    out = InstanceNorm2d(5)(x)
    mean = ref_x.mean(dim=(-2, -1), keepdim=True)
    var = ref_x.var(dim=(-2, -1), unbiased=False, keepdim=True)
    ref = (ref_x - mean) / torch.sqrt(var + 1e-5)
    assert torch.allclose(out, ref, atol=1e-5)
    w = torch.randn_like(ref)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    assert torch.allclose(x.grad, ref_x.grad, atol=1e-4)
    assert not list(InstanceNorm2d(5).state_dict())  # same (empty) state as nn.InstanceNorm2d


def test_indrnn_cell_and_conv_layer_equal_the_out_of_place_formula():
    torch.manual_seed(0)
    conv, cell = ConvNonlinear(3, 4, 3, dilation=2), IndRNNCell(4, 4)
    ref_conv, ref_cell = copy.deepcopy(conv), copy.deepcopy(cell)
    x, h = torch.randn(2, 3, 9, 8, requires_grad=True), torch.randn(2, 4, 9, 8, requires_grad=True)
    rx, rh = x.detach().clone().requires_grad_(), h.detach().clone().requires_grad_()
    out = cell(conv(x), h)
    padded = F.pad(rx, [2] * 4, mode="replicate")
    ref = F.relu(ref_cell.ih(F.relu(ref_conv.conv(padded))) + ref_cell.hh * rh)
    assert torch.allclose(out, ref, atol=1e-6)
    out.square().sum().backward()
    ref.square().sum().backward()
    for a, b in zip(_grads(conv, x) + _grads(cell, h), _grads(ref_conv, rx) + _grads(ref_cell, rh),
                    strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_rim_channels_last_equals_nchw_with_gradients():
    y, s, x0 = _cplx(1, 2, 8, 8), _cplx(1, 2, 8, 8, seed=1), _cplx(1, 8, 8, seed=2)
    mask = torch.ones(1, 1, 1, 8)
    torch.manual_seed(0)
    fast = RIMBlock(**SMALL_RIM)
    plain = RIMBlock(**SMALL_RIM, channels_last=False)
    plain.load_state_dict(fast.state_dict())
    results = []
    for net in (fast, plain):
        est, hidden = net(x0, y, s, mask)
        (est[-1].abs().sum() + sum(h.sum() for h in hidden)).backward()
        results.append((est[-1], torch.cat([p.grad.flatten() for p in net.parameters()])))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-5)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-5)


def test_norm_unet_options_keep_their_meaning_under_the_fast_norm():
    image = _cplx(1, 16, 16)
    net = NormUnet(chans=4, num_pools=2, zero_init=True, phase_equivariant=True)
    # zero_init: the U-Net outputs the per-channel input mean, whatever the input
    out = net(image)
    mean = torch.complex(image.real.mean(), image.imag.mean())
    assert torch.allclose(out, mean.expand_as(out), atol=1e-5)
    torch.nn.init.normal_(net.unet.up_conv[-1][-1].weight)
    rot = torch.polar(torch.ones(()), torch.tensor(0.7))
    assert torch.allclose(net(image * rot), net(image) * rot, atol=1e-5)


@pytest.mark.parametrize("mode", ["none", "cascades", "steps", "cascades+steps"])
def test_cirim_recompute_modes_give_identical_gradients(mode):
    y, s, x0 = _cplx(1, 2, 8, 8), _cplx(1, 2, 8, 8, seed=1), _cplx(1, 8, 8, seed=2)
    batch = {"masked_kspace": y, "sensitivity_maps": s, "mask": torch.ones(1, 1, 1, 8),
             "initial_image": x0}
    cfg = {"num_cascades": 2, **SMALL_CIRIM}
    torch.manual_seed(0)
    ref = CIRIM({**cfg, "memory_efficient": False})
    model = CIRIM({**cfg, "recompute": mode})
    model.load_state_dict(ref.state_dict())
    assert (model.net.checkpoint_cascades, model.net.cascades[0].checkpointing) == {
        "none": (False, False), "cascades": (True, False), "steps": (False, True),
        "cascades+steps": (True, True)}[mode]
    grads = []
    for m in (ref, model):
        sum(e.abs().sum() for e in m.reconstruct(batch)).backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_cirim_rejects_an_unknown_recompute_mode():
    with pytest.raises(ValueError, match=r"expected model\.recompute in none, cascades"):
        CIRIM({"recompute": "layers", **SMALL_CIRIM})


def test_rim_checkpointing_keeps_parameter_count_and_layout_of_weights():
    fast, plain = CIRIMNet(5, time_steps=8), CIRIMNet(5, time_steps=8, channels_last=False)
    assert sum(p.numel() for p in fast.parameters()) == 264_960
    assert list(fast.state_dict()) == list(plain.state_dict())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fmt", [torch.channels_last, torch.contiguous_format])
def test_padded_conv_keeps_only_the_unpadded_input_for_backward(bias, fmt):
    torch.manual_seed(0)
    layer = ConvNonlinear(3, 4, 3, dilation=2, bias=bias, relu=False).double()
    layer = layer.to(memory_format=fmt)
    x = torch.randn(2, 3, 7, 9, dtype=torch.double).contiguous(memory_format=fmt)
    x.requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t,
                                                  lambda t: t):
        out = layer(x)
    assert sorted(saved) == sorted([x.shape, layer.conv.weight.shape])  # no padded copy
    g = torch.randn_like(out)
    out.backward(g)
    ref_layer, x_ref = copy.deepcopy(layer), x.detach().clone().requires_grad_()
    ref = F.conv2d(F.pad(x_ref, [2] * 4, mode="replicate"), ref_layer.conv.weight,
                   ref_layer.conv.bias, dilation=2)
    ref.backward(g)
    assert torch.allclose(out, ref)
    for a, b in zip(_grads(layer, x), _grads(ref_layer, x_ref), strict=True):
        assert torch.allclose(a, b)


def test_cirim_recomputes_cascades_by_default():
    net = CIRIM(SMALL_CIRIM).net
    assert net.checkpoint_cascades and not net.cascades[0].checkpointing


def test_least_memory_modes_fix_the_glibc_mmap_threshold(monkeypatch):
    from atommic_rec.nets import _memory

    if _memory._libc() is None:
        pytest.skip("needs glibc")
    calls = []
    monkeypatch.setattr(_memory, "_fix_mmap_threshold", lambda: calls.append(1))
    _memory.release_cpu_memory(torch.zeros(1))
    assert not calls  # the faster modes keep glibc's default
    _memory.release_cpu_memory(torch.zeros(1), least_memory=True)
    assert calls == [1]
    monkeypatch.undo()
    for env, expected in (({"MALLOC_MMAP_THRESHOLD_": "65536"}, False), ({}, True)):
        monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        _memory._fix_mmap_threshold.cache_clear()
        assert _memory._fix_mmap_threshold() is expected
