"""qRIM/qCIRIM and qVarNet networks: REC blocks reused, update rules, checkpointing, sizes."""

import pytest
import torch

from atommic_qi.fitting import clip_maps, parse_ranges
from atommic_qi.nets import QCIRIMNet, QRIMBlock, QVarNetNet
from atommic_qi.physics import get_signal_model, likelihood_gradient, qmri_forward
from atommic_rec.nets import RIMBlock

TES = torch.tensor([3.0, 11.5, 20.0, 28.5])
SMALL = {"conv_filters": (4, 4, 4), "recurrent_filters": (4, 4, 0), "time_steps": 2}


@pytest.fixture
def problem(make_maps, make_coils):
    true = make_maps(2, 12, 12, seed=1).float()
    start = make_maps(2, 12, 12, seed=2).float()
    coils = make_coils(2, 12, 12)[None].expand(2, -1, -1, -1)
    mask = torch.zeros(1, 1, 1, 12, 12)
    mask[..., ::2, :] = 1
    return start, qmri_forward(true, TES, coils, mask), coils, mask


def test_qrim_block_is_recs_rim_block_on_map_channels():
    block = QRIMBlock()
    assert isinstance(block, RIMBlock)
    assert block.convs[0].conv.in_channels == 8 and block.final.conv.out_channels == 4
    # ATOMMIC's AHEAD qCIRIM: 5 cascades of (8 -> 64 -> IndRNN 64 -> 64 -> IndRNN 64 -> 4)
    assert sum(p.numel() for p in QCIRIMNet(5).parameters()) == 302_720
    with pytest.raises(ValueError, match=r"conv_filters\[-1\] == 4"):
        QRIMBlock(conv_filters=(8, 8, 2))
    rec = RIMBlock()  # REC's defaults are unchanged by the in/out channel arguments
    assert rec.convs[0].conv.in_channels == 4 and rec.final.conv.out_channels == 2


def test_zero_init_starts_at_the_initial_maps(problem):
    start, y, coils, mask = problem
    net = QCIRIMNet(2, zero_init=True, **SMALL)
    estimates = net(start, y, coils, mask, TES)
    assert [len(c) for c in estimates] == [2, 2]
    for step in (e for cascade in estimates for e in cascade):
        torch.testing.assert_close(step, start)


def test_memory_efficient_recomputation_gives_the_same_values_and_gradients(problem):
    start, y, coils, mask = problem
    torch.manual_seed(0)
    plain = QCIRIMNet(2, **SMALL)
    efficient = QCIRIMNet(2, checkpoint_cascades=True, checkpointing=True, **SMALL)
    efficient.load_state_dict(plain.state_dict())
    outs, grads = [], []
    for net in (plain, efficient):
        net.zero_grad()
        out = net(start, y, coils, mask, TES)[-1][-1]
        out.square().mean().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_qvarnet_cascade_is_a_scaled_gradient_step_plus_a_unet(problem):
    start, y, coils, mask = problem
    net = QVarNetNet(num_cascades=1, chans=4, num_pools=2, zero_init=True)
    with torch.no_grad():
        net.cascades[0].dc_weight.fill_(0.3)
    scales = torch.tensor(get_signal_model("gre").scales).view(1, 4, 1, 1)
    grad = likelihood_gradient(start, TES, y, coils, mask)
    want = clip_maps(start - 0.3 * grad * scales**2, parse_ranges(None))  # u - w s grad
    torch.testing.assert_close(net(start, y, coils, mask, TES)[-1], want, rtol=1e-4, atol=1e-4)
    no_dc = QVarNetNet(num_cascades=2, chans=4, num_pools=2, zero_init=True, no_dc=True)
    torch.testing.assert_close(no_dc(start, y, coils, mask, TES)[-1], start)
    assert sum(p.numel() for p in QVarNetNet(8, 18, 4).parameters()) == 19_642_792


def test_nets_run_in_float64_and_with_the_megre_model(problem):
    start, y, coils, mask = problem
    megre = get_signal_model("atommic_megre")
    net = QCIRIMNet(1, signal_model=megre, **SMALL).double()
    out = net(megre.from_gre(start.double()), y.to(torch.complex128),
              coils.to(torch.complex128), mask.double(), TES.double())
    assert out[-1][-1].dtype == torch.float64 and torch.isfinite(out[-1][-1]).all()


def test_estimates_stay_in_range_whatever_an_untrained_net_outputs(problem):
    start, y, coils, mask = problem
    net = QCIRIMNet(1, **SMALL)
    with torch.no_grad():  # a wild update: R2* would go far below 0 and exp(-R2* t) overflow
        net.cascades[0].final.conv.weight.fill_(50.0)
    for step in net(start, y * 1e3, coils, mask, TES)[0]:
        assert torch.isfinite(step).all()
        assert step[:, 0].min() >= 0 and step[:, 0].max() <= 500  # R2* in [0, 500] 1/s
        assert step[:, 3].abs().max() <= torch.pi + 1e-5
