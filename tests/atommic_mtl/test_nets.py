"""The networks: REC/SEG parts reused faithfully, update equations, shapes, gradient paths."""

from __future__ import annotations

import pytest
import torch
from rec_synthetic import multicoil_kspace

from atommic_mtl.nets import (
    ConvLSTMCell,
    IDSLRNet,
    IDSLRUNetNet,
    MTLRSNet,
    RecSegUNetNet,
    SegNetNet,
    SERANetNet,
    UnetDecoder,
    UnetEncoder,
    WeightedDataConsistency,
    adapt_hidden_states,
)
from atommic_mtl.nets.parts import pad_coils
from atommic_rec.nets import Unet
from atommic_rec.physics import apply_mask, ifft2, sense_reduce


def _batch(coils=2, h=20, w=18):
    kspace, maps, _ = multicoil_kspace(coils=coils, h=h, w=w)
    mask = torch.zeros(1, 1, w)
    mask[..., ::2] = 1
    mask[..., w // 2 - 2: w // 2 + 2] = 1
    y = apply_mask(kspace, mask).unsqueeze(0)
    return y, maps.unsqueeze(0), mask.unsqueeze(0), sense_reduce(ifft2(y), maps.unsqueeze(0))


def test_split_unet_equals_rec_unet():
    torch.manual_seed(0)
    unet = Unet(3, 2, chans=4, num_pools=2).eval()
    encoder, decoder = UnetEncoder(3, 4, 2).eval(), UnetDecoder(2, 4, 2).eval()
    encoder.down.load_state_dict(unet.down.state_dict())
    encoder.bottleneck.load_state_dict(unet.bottleneck.state_dict())
    decoder.up_transpose.load_state_dict(unet.up_transpose.state_dict())
    decoder.up_conv.load_state_dict(unet.up_conv.state_dict())
    x = torch.randn(2, 3, 16, 12)
    torch.testing.assert_close(decoder(encoder(x)), unet(x))


def test_weighted_data_consistency_formula():
    dc = WeightedDataConsistency()
    with torch.no_grad():
        dc.dc_weight.fill_(0.25)
    k = torch.randn(1, 2, 4, 6, dtype=torch.complex64)
    y = torch.randn(1, 2, 4, 6, dtype=torch.complex64)
    mask = torch.tensor([1.0, 0, 1, 0, 0, 1]).view(1, 1, 1, 6)
    y = y * mask
    out = dc(k, y, mask)
    w = 0.25 + 1e-6
    torch.testing.assert_close(out[..., mask[0, 0, 0] > 0], ((y + w * k) / (1 + w))[..., [0, 2, 5]])
    torch.testing.assert_close(out[..., mask[0, 0, 0] == 0], k[..., [1, 3, 4]])


def test_task_adaptation_formula():
    hidden = [torch.zeros(1, 5, 3, 3), torch.ones(1, 2, 3, 3)]
    image = torch.full((1, 3, 3), 2.0 + 0j) * 1j  # |x| = 2
    probs = torch.stack([torch.full((3, 3), 0.25), torch.full((3, 3), 0.75)]).unsqueeze(0)
    h5, h2 = adapt_hidden_states(hidden, image, probs)
    # 5 channels, 2 classes: [p0, p1, p0, p1, 0] * |x|
    torch.testing.assert_close(h5[0, :, 0, 0], torch.tensor([0.5, 1.5, 0.5, 1.5, 0.0]))
    torch.testing.assert_close(h2[0, :, 0, 0], torch.tensor([1.5, 2.5]))


def test_mtlrs_adaptation_changes_only_later_blocks():
    torch.manual_seed(0)
    kw = {"conv_filters": (4, 4, 2), "recurrent_filters": (4, 4, 0), "time_steps": 2}
    net = MTLRSNet(3, joint_cascades=2, **kw)
    plain = MTLRSNet(3, joint_cascades=2, task_adaptation=False, **kw)
    plain.load_state_dict(net.state_dict())
    y, maps, mask, x0 = _batch()
    with torch.no_grad():
        a, sa = net(y, maps, mask, x0)
        b, sb = plain(y, maps, mask, x0)
    assert len(a) == 4 and len(sa) == 2
    torch.testing.assert_close(a[1], b[1])  # first block: identical
    torch.testing.assert_close(sa[0], sb[0])
    assert not torch.allclose(a[-1], b[-1])  # second block starts from adapted states


def test_segmentation_loss_reaches_the_reconstruction_weights():
    torch.manual_seed(0)
    net = MTLRSNet(3, joint_cascades=1, conv_filters=(4, 4, 2), recurrent_filters=(4, 4, 0),
                   time_steps=2)
    _, segs = net(*_batch())
    segs[-1].square().sum().backward()
    grads = [p.grad for p in net.blocks[0].cascades.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("make", [
    lambda: MTLRSNet(3, joint_cascades=2, conv_filters=(4, 4, 2), recurrent_filters=(4, 4, 0),
                     time_steps=2, phase_equivariant=True),
    lambda: SERANetNet(3, 1, 4, 2, 4, 2, recurrent_iterations=1, recurrent_channels=4,
                       phase_equivariant=True),
    lambda: RecSegUNetNet(3, 4, 2, 4, 2, phase_equivariant=True)])
def test_phase_equivariant_reconstruction_rotates_and_magnitude_segmentation_is_unchanged(make):
    """``net(e^{ia} y) = e^{ia} net(y)`` for the reconstruction (REC's option, reused)."""
    torch.manual_seed(0)
    net = make()
    y, maps, mask, x0 = _batch()
    rotation = torch.polar(torch.tensor(1.0), torch.tensor(2.1)).to(torch.complex64)

    def run(scale):
        if isinstance(net, RecSegUNetNet):
            recon, logits = net(x0 * scale)
            return [recon], [logits]
        if isinstance(net, SERANetNet):
            return net(y * scale, maps, mask)
        return net(y * scale, maps, mask, x0 * scale)

    with torch.no_grad():
        (recs, segs), (rot_recs, rot_segs) = run(1), run(rotation)
    torch.testing.assert_close(rot_recs[-1], recs[-1] * rotation, atol=1e-4, rtol=1e-4)
    if not isinstance(net, SERANetNet):  # SERANet's attention also reads the complex image
        torch.testing.assert_close(rot_segs[-1], segs[-1], atol=1e-4, rtol=1e-4)


def test_conv_lstm_cell_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(2, 3, kernel_size=1)
    x, h, c = torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    h1, c1 = cell(x, (h, c))
    gates = torch.einsum("oi,bihw->bohw", cell.gates.weight[:, :, 0, 0], torch.cat([x, h], 1))
    i, f, o, g = (gates + cell.gates.bias.view(1, -1, 1, 1)).chunk(4, 1)
    c_want = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    torch.testing.assert_close(c1, c_want)
    torch.testing.assert_close(h1, torch.sigmoid(o) * torch.tanh(c_want))
    h0, _ = cell(x)  # zero initial state
    assert h0.shape == (1, 3, 4, 4)


def test_zero_coils_change_nothing_and_too_many_coils_fail():
    y, maps, _, x0 = _batch(coils=2)
    y4, maps4 = pad_coils(y, maps, 4)
    assert y4.shape[1] == 4 and torch.equal(y4[:, 2:], torch.zeros_like(y4[:, 2:]))
    torch.testing.assert_close(sense_reduce(ifft2(y4), maps4), x0)
    with pytest.raises(ValueError, match=r"expected at most num_coils=1 coils.*found 2"):
        pad_coils(y, maps, 1)


@pytest.mark.parametrize(("net", "n_recs", "n_segs"), [
    (lambda: IDSLRNet(3, 2, chans=4, num_pools=2, num_iters=3), 3, 1),
    (lambda: IDSLRUNetNet(3, 2, chans=4, num_pools=2, num_iters=2, segmentation_channels=4,
                          segmentation_pools=2), 2, 1),
    (lambda: SegNetNet(3, 2, num_cascades=2, chans=4, num_pools=2), 2, 3),
    (lambda: SERANetNet(3, 1, 4, 2, 4, 2, recurrent_iterations=2, recurrent_channels=4), 1, 3),
])
def test_coil_and_attention_nets_shapes(net, n_recs, n_segs):
    torch.manual_seed(0)
    y, maps, mask, _ = _batch()  # odd-sized grid: padding inside the nets
    recs, segs = net()(y, maps, mask)
    assert len(recs) == n_recs and len(segs) == n_segs
    assert recs[-1].shape == (1, 20, 18) and recs[-1].is_complex()
    assert all(s.shape == (1, 3, 20, 18) for s in segs)


def test_idslr_shares_weights_over_iterations():
    count = [sum(p.numel() for p in IDSLRNet(3, 2, 4, 2, num_iters=n).parameters())
             for n in (1, 4)]
    assert count[0] == count[1]
    cascades = [sum(p.numel() for p in SegNetNet(3, 2, n, 4, 2).parameters()) for n in (1, 2)]
    assert cascades[1] > cascades[0]


def test_recseg_unet_shapes():
    recon, logits = RecSegUNetNet(3, 4, 2, 4, 2)(_batch()[3])
    assert recon.shape == (1, 20, 18) and logits.shape == (1, 3, 20, 18)
