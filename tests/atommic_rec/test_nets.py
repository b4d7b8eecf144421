import pytest
import torch

from atommic_rec.nets import (
    CIRIMNet,
    ConvGRUCell,
    NormUnet,
    RIMBlock,
    SensitivityNet,
    Unet,
    VarNetNet,
    build_recurrent_cell,
    center_mask,
    global_phase,
    log_likelihood_gradient,
    soft_data_consistency,
)
from atommic_rec.physics import forward_operator, ifft2, rss_complex, sense_reduce

SMALL_RIM = dict(conv_filters=(4, 4, 2), recurrent_filters=(4, 4, 0), time_steps=2)


def _cplx(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def _nparams(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_equal_atommic_reference_configs():
    # counts printed by ATOMMIC 1.0.1 for its reference hyperparameters (shared/bench README)
    assert _nparams(VarNetNet(num_cascades=8, chans=18, num_pools=4)) == 19_634_712
    assert _nparams(Unet(2, 2, chans=64, num_pools=4)) == 31_024_386
    assert _nparams(CIRIMNet(5, recurrent_layer="IndRNN", time_steps=8)) == 264_960


@pytest.mark.parametrize("hw", [(16, 16), (13, 18)])
def test_norm_unet_keeps_shape_and_complex64(hw):
    net = NormUnet(chans=4, num_pools=2)
    x = _cplx(2, *hw)
    out = net(x)
    assert out.shape == x.shape and out.dtype == torch.complex64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(x).dtype == torch.complex64


def test_norm_unet_zero_init_outputs_the_input_mean():
    x = _cplx(2, 16, 16)
    out = NormUnet(chans=4, num_pools=2, zero_init=True)(x)
    mean = torch.complex(x.real.mean(dim=(-2, -1)), x.imag.mean(dim=(-2, -1)))
    assert torch.allclose(out, mean[:, None, None].expand_as(x), atol=1e-5)


def test_unet_channels_last_layout_gives_identical_results():
    torch.manual_seed(0)
    plain = Unet(2, 2, chans=4, num_pools=2, channels_last=False)
    nhwc = Unet(2, 2, chans=4, num_pools=2)
    nhwc.load_state_dict(plain.state_dict())
    x = torch.randn(2, 2, 16, 20)
    out = nhwc(x)
    assert out.is_contiguous() and torch.allclose(out, plain(x), atol=1e-5)


def test_unet_runs_narrow_levels_nhwc_and_wide_levels_nchw_with_identical_results(monkeypatch):
    """Levels below ``NCHW_MIN_CHANNELS`` run NHWC (weights and inputs), wider ones NCHW;
    values and gradients equal those of the all-NCHW network."""
    import atommic_rec.nets.unet as unet_module

    monkeypatch.setattr(unet_module, "NCHW_MIN_CHANNELS", 32)
    torch.manual_seed(0)
    plain = Unet(2, 2, chans=8, num_pools=3, channels_last=False)
    mixed = Unet(2, 2, chans=8, num_pools=3)
    mixed.load_state_dict(plain.state_dict())
    seen = []
    levels = (*mixed.down, mixed.bottleneck)
    for level in levels:
        level.register_forward_pre_hook(lambda mod, args: seen.append(
            args[0].is_contiguous(memory_format=torch.channels_last)
            and not args[0].is_contiguous()))
    # levels 2->8 and 8->16 narrower than 32 (NHWC), 16->32 and 32->64 not (NCHW)
    assert [w.is_contiguous() for level in levels for w in level.parameters()] == \
        [False, False, False, False, True, True, True, True]
    x = torch.randn(1, 2, 16, 32, requires_grad=True)
    out = mixed(x)
    assert seen == [True, True, False, False]
    ref = plain(x)
    assert out.is_contiguous() and torch.allclose(out, ref, atol=1e-4)
    g_mixed = torch.autograd.grad(out.square().sum(), [x, *mixed.parameters()])
    g_plain = torch.autograd.grad(ref.square().sum(), [x, *plain.parameters()])
    for a, b in zip(g_mixed, g_plain, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


def test_norm_unet_rejects_real_input():
    with pytest.raises(ValueError, match="complex"):
        NormUnet(4, 2)(torch.zeros(1, 8, 8))


def test_global_phase_is_the_unit_phasor_of_the_sum_and_one_for_empty_images():
    x = _cplx(3, 8, 8)
    x[2] = 0
    phasor = global_phase(x)
    assert phasor.shape == (3, 1, 1) and torch.allclose(phasor.abs(), torch.ones(3, 1, 1))
    assert torch.allclose(phasor[:2].angle().flatten(), x[:2].sum((-2, -1)).angle())
    assert phasor[2].item() == 1
    assert not global_phase(x.requires_grad_()).requires_grad


@pytest.mark.parametrize("hw", [(16, 16), (13, 18)])
def test_phase_equivariant_norm_unet_is_exactly_equivariant(hw):
    torch.manual_seed(0)
    x, rot = _cplx(2, *hw), torch.exp(1j * torch.tensor([[[2.1]], [[-0.7]]]))
    net = NormUnet(chans=4, num_pools=2, phase_equivariant=True)
    torch.testing.assert_close(net(x * rot), net(x) * rot, atol=2e-5, rtol=1e-4)
    plain = NormUnet(chans=4, num_pools=2)  # the option is what makes it equivariant
    plain.load_state_dict(net.state_dict())
    assert not torch.allclose(plain(x * rot), plain(x) * rot, atol=1e-2)


def test_phase_equivariant_varnet_is_equivariant_as_a_whole():
    torch.manual_seed(0)
    y, s = _cplx(1, 3, 16, 16), _cplx(1, 3, 16, 16, seed=1)
    s = s / rss_complex(s, dim=1).unsqueeze(1)
    mask = (torch.rand(1, 1, 1, 16, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    rot = torch.exp(torch.tensor(1j * 2.5))
    net = VarNetNet(2, chans=4, num_pools=2, phase_equivariant=True)
    torch.testing.assert_close(net(y * mask * rot, s, mask), net(y * mask, s, mask) * rot,
                               atol=2e-5, rtol=1e-4)


def test_soft_dc_only_touches_sampled_locations():
    k, y = _cplx(1, 2, 8, 8), _cplx(1, 2, 8, 8, seed=1)
    mask = torch.zeros(1, 1, 1, 8)
    mask[..., 2] = 1
    term = soft_data_consistency(k, y, mask, torch.tensor([0.5]))
    assert torch.allclose(term[..., 2], 0.5 * (k - y)[..., 2])
    assert term[..., :2].abs().max() == 0 and term[..., 3:].abs().max() == 0


def test_log_likelihood_gradient_is_autograd_gradient():
    x, s, y = _cplx(1, 8, 10), _cplx(1, 3, 8, 10, seed=1), _cplx(1, 3, 8, 10, seed=2)
    mask = (torch.rand(1, 1, 1, 10, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    y = y * mask
    x.requires_grad_(True)
    (0.5 * (forward_operator(x, s, mask) - y).abs().square().sum()).backward()
    ours = log_likelihood_gradient(x.detach(), y, s, mask)
    assert torch.allclose(ours, x.grad, atol=1e-4)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_log_likelihood_gradient_divides_by_sigma_squared(sigma):
    # Regression: the gradient was divided by max(sigma, 1) instead of sigma^2.
    x, s, y = _cplx(1, 8, 10), _cplx(1, 3, 8, 10, seed=1), _cplx(1, 3, 8, 10, seed=2)
    mask = (torch.rand(1, 1, 1, 10, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    y = y * mask
    x.requires_grad_(True)
    (0.5 * (forward_operator(x, s, mask) - y).abs().square().sum() / sigma**2).backward()
    ours = log_likelihood_gradient(x.detach(), y, s, mask, sigma=sigma)
    torch.testing.assert_close(ours, x.grad, atol=1e-4, rtol=1e-4)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="sigma"):
            log_likelihood_gradient(x.detach(), y, s, mask, sigma=bad)


def test_center_mask_finds_the_acs_band():
    mask = torch.zeros(2, 1, 1, 16)
    mask[0, ..., 6:11] = 1
    mask[0, ..., 1] = 1  # an isolated line outside the band
    mask[1, ..., 7:9] = 1
    band = center_mask(mask)
    assert band[0].nonzero()[:, -1].tolist() == [6, 7, 8, 9, 10]
    assert band[1].nonzero()[:, -1].tolist() == [7, 8]


def test_sensitivity_net_returns_unit_rss_maps():
    k = _cplx(1, 3, 16, 16)
    maps = SensitivityNet(chans=4, num_pools=2)(k, torch.ones(1, 1, 1, 16))
    assert maps.shape == k.shape
    assert torch.allclose(rss_complex(maps, dim=1), torch.ones(1, 16, 16), atol=1e-4)


def test_varnet_learns_and_uses_the_sensitivity_net():
    y, s = _cplx(1, 2, 16, 16), _cplx(1, 2, 16, 16, seed=1)
    mask = torch.ones(1, 1, 1, 16)
    net = VarNetNet(2, chans=4, num_pools=2, use_sens_net=True, sens_chans=4, sens_pools=2)
    out = net(y, s, mask)
    assert out.shape == (1, 16, 16) and out.dtype == torch.complex64
    out.abs().mean().backward()
    assert net.sens_net.norm_unet.unet.down[0].layers[0].weight.grad.abs().sum() > 0
    assert all(c.dc_weight.grad is not None for c in net.cascades)


def test_varnet_with_zero_unet_update_keeps_measured_data():
    y, s = _cplx(1, 2, 16, 16), _cplx(1, 2, 16, 16, seed=1)
    s = s / rss_complex(s, dim=1).unsqueeze(1)
    net = VarNetNet(1, chans=4, num_pools=2)
    for p in net.parameters():
        torch.nn.init.zeros_(p)  # U-Net outputs 0 and dc weight 0: k-space stays y
    net.cascades[0].model.normalize = False  # else the un-normalisation adds the mean back
    out = net(y, s, torch.ones(1, 1, 1, 16))
    assert torch.allclose(out, sense_reduce(ifft2(y), s), atol=1e-5)


def test_rim_checkpointing_gives_identical_gradients():
    y, s, x0 = _cplx(1, 2, 8, 8), _cplx(1, 2, 8, 8, seed=1), _cplx(1, 8, 8, seed=2)
    mask = torch.ones(1, 1, 1, 8)
    torch.manual_seed(0)
    plain = RIMBlock(**SMALL_RIM)
    ckpt = RIMBlock(**SMALL_RIM, checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    grads = []
    for net in (plain, ckpt):
        est, _ = net(x0, y, s, mask)
        est[-1].abs().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_cirim_structure_and_hidden_state_carry():
    y, s, x0 = _cplx(1, 2, 8, 8), _cplx(1, 2, 8, 8, seed=1), _cplx(1, 8, 8, seed=2)
    mask = torch.ones(1, 1, 1, 8)
    net = CIRIMNet(3, recurrent_layer="GRU", **SMALL_RIM)
    out = net(y, s, mask, x0)
    assert [len(c) for c in out] == [2, 2, 2]
    # cascade 2 continues from cascade 1's last estimate and hidden state
    est, hidden = net.cascades[0](x0, y, s, mask)
    est2, _ = net.cascades[1](est[-1], y, s, mask, hidden)
    assert torch.allclose(est2[-1], out[1][-1], atol=1e-6)
    fresh, _ = net.cascades[1](est[-1], y, s, mask)
    assert not torch.allclose(fresh[-1], out[1][-1])


def test_recurrent_cells_and_bad_names():
    cell = ConvGRUCell(3, 5, kernel_size=3)
    h = cell(torch.randn(1, 3, 6, 6), torch.zeros(1, 5, 6, 6))
    assert h.shape == (1, 5, 6, 6)
    with pytest.raises(ValueError, match="IndRNN, GRU"):
        build_recurrent_cell("LSTM", 2, 2)
    with pytest.raises(ValueError, match="conv_filters"):
        RIMBlock(conv_filters=(4, 4, 3), recurrent_filters=(4, 4, 0))


def test_training_works_after_first_use_under_inference_mode():
    # validation (inference_mode) may see a shape before training does; cached FFT helpers
    # must not leak inference tensors into autograd
    y, s = _cplx(1, 2, 12, 14), _cplx(1, 2, 12, 14, seed=1)
    net = VarNetNet(1, chans=4, num_pools=1)
    mask = torch.ones(1, 1, 1, 14)
    with torch.inference_mode():
        net(y, s, mask)
    net(y, s, mask).abs().sum().backward()
    assert net.cascades[0].dc_weight.grad is not None


def test_cirim_nested_checkpointing_gives_identical_gradients():
    y, s, x0 = _cplx(1, 2, 8, 8), _cplx(1, 2, 8, 8, seed=1), _cplx(1, 8, 8, seed=2)
    mask = torch.ones(1, 1, 1, 8)
    plain = CIRIMNet(2, **SMALL_RIM)
    nested = CIRIMNet(2, checkpoint_cascades=True, checkpointing=True, **SMALL_RIM)
    nested.load_state_dict(plain.state_dict())
    grads = []
    for net in (plain, nested):
        out = net(y, s, mask, x0)
        sum(e.abs().sum() for c in out for e in c).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
