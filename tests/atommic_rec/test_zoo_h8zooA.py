"""REC zoo, part A: CascadeNet, CRNNet, KIKINet, LPDNet, XPDNet, MultiDomainNet.

Each model: a few training steps lower the loss, ``.atommic`` save/restore gives identical
outputs, its data-consistency (or domain) step matches the equation in its docstring, and the
CLI ``test``/``predict`` run from a saved archive.
"""

import csv

import h5py
import numpy as np
import pytest
import torch
from rec_synthetic import disc_image, smooth_maps

from atommic_core.registry import models
from atommic_rec.nets.image_dc import image_data_consistency
from atommic_rec.nets.multidomain import MultiDomainConv2d
from atommic_rec.nets.mwcnn import haar_forward, haar_inverse
from atommic_rec.nets.primal_dual import PrimalDualNet
from atommic_rec.physics import forward_operator

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")

H, W, COILS = 16, 12, 3
# model -> (demo config, tiny model settings)
TINY = {
    "CascadeNet": ("rec_demo_cascadenet", {"num_cascades": 2, "hidden_channels": 4,
                                           "n_convs": 3}),
    "CRNNet": ("rec_demo_crnn", {"num_iterations": 2, "hidden_channels": 4, "n_convs": 1}),
    "KIKINet": ("rec_demo_kikinet", {"num_iter": 2, "kspace_unet_num_filters": 4,
                                     "imspace_unet_num_filters": 4, "zero_init": True,
                                     "phase_equivariant": True}),
    "LPDNet": ("rec_demo_lpdnet", {"num_iter": 2, "num_primal": 2, "num_dual": 2,
                                   "primal_unet_num_filters": 4, "dual_unet_num_filters": 4}),
    "XPDNet": ("rec_demo_xpdnet", {"num_iter": 2, "num_primal": 2, "mwcnn_hidden_channels": 4,
                                   "mwcnn_num_scales": 2}),
    "MultiDomainNet": ("rec_demo_multidomainnet", {"num_filters": 4, "num_pool_layers": 2}),
}


def _mask(w=W):
    mask = torch.zeros(1, 1, 1, w)
    mask[..., ::3] = 1
    mask[..., w // 2 - 1: w // 2 + 1] = 1
    return mask


def _batch(b=2):
    maps = smooth_maps(COILS, H, W).expand(b, -1, -1, -1).contiguous()
    image = torch.stack([disc_image(H, W) * (1 + 0.2 * i) for i in range(b)])
    mask = _mask()
    y = forward_operator(image, maps, mask)
    return {"masked_kspace": y, "sensitivity_maps": maps, "mask": mask,
            "initial_image": torch.zeros(b, H, W, dtype=torch.complex64),
            "target": image.abs(), "scale": torch.ones(b), "fname": [f"v{i}" for i in range(b)],
            "slice_idx": torch.arange(b)}


def _model(name, **extra):
    torch.manual_seed(0)
    cfg = {**TINY[name][1], **extra, "optim": {"name": "adam", "lr": 1e-3}}
    return models[name](cfg)


def _inputs(batch):
    return {k: batch[k] for k in ("masked_kspace", "sensitivity_maps", "mask", "initial_image")}


@pytest.mark.parametrize("name", list(TINY))
def test_few_training_steps_lower_the_loss(name):
    model = _model(name)
    batch = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


@pytest.mark.parametrize("name", list(TINY))
def test_save_restore_gives_identical_outputs(name, tmp_path):
    model = _model(name).eval()
    path = str(tmp_path / f"{name}.atommic")
    model.save_to(path)
    restored = models[name].restore_from(path, map_location="cpu").eval()
    with torch.no_grad():
        assert torch.equal(model(**_inputs(_batch())), restored(**_inputs(_batch())))


def _fft(a):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(a, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1))


def _ifft(a):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(a, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1))


def _numpy_dc(x, y, maps, mask, w):
    """``S^H F^-1 (k - w M (k - y))``, ``k = F S x``, in NumPy (centered ortho FFT)."""
    k = _fft(maps * x[:, None])
    k = k - w * mask * (k - y)
    return (np.conj(maps) * _ifft(k)).sum(1)


def test_image_data_consistency_matches_its_equation():
    batch = _batch()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, H, W, dtype=torch.complex64, generator=g)
    out = image_data_consistency(x, batch["masked_kspace"], batch["sensitivity_maps"],
                                 batch["mask"], torch.tensor([0.3]))
    ref = _numpy_dc(x.numpy(), batch["masked_kspace"].numpy(),
                    batch["sensitivity_maps"].numpy(), batch["mask"].numpy(), 0.3)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


def _zero_last_conv(module):
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    torch.nn.init.zeros_(convs[-1].weight)
    if convs[-1].bias is not None:
        torch.nn.init.zeros_(convs[-1].bias)


class _Zero(torch.nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def _replace_by_zero(module_list):
    for i in range(len(module_list)):
        module_list[i] = _Zero()


# model -> (zero its regularisers, DC weight of each step): with zero CNN updates the network
# is its data-consistency iteration x <- S^H F^-1 (k - w M (k - y)), k = F S x, from S^H F^-1 y
ZEROED = {
    "CascadeNet": (lambda net: [_zero_last_conv(c) for c in net.cnns],
                   lambda net: [float(w) for w in net.dc_weights]),
    "CRNNet": (lambda net: _zero_last_conv(net.convs),
               lambda net: [float(net.dc_weight)] * net.num_iterations),
    "KIKINet": (lambda net: [_replace_by_zero(nets) for nets in (net.kspace_nets,
                                                                  net.image_nets)],
                lambda net: [float(net.dc_weight)] * net.num_iter),
}


@pytest.mark.parametrize("name", list(ZEROED))
def test_zeroed_regulariser_leaves_the_docstring_dc_iteration(name):
    model = _model(name)
    zero, weights = ZEROED[name]
    with torch.no_grad():
        for i, p in enumerate(p for n, p in model.net.named_parameters() if "dc_weight" in n):
            p.fill_(0.25 + 0.5 * i)
        zero(model.net)
        out = model(**_inputs(_batch())).numpy()
    b = {k: v.numpy() for k, v in _batch().items() if isinstance(v, torch.Tensor)}
    x = (np.conj(b["sensitivity_maps"]) * _ifft(b["masked_kspace"])).sum(1)
    for w in weights(model.net):
        x = _numpy_dc(x, b["masked_kspace"], b["sensitivity_maps"], b["mask"], w)
    np.testing.assert_allclose(out, x, atol=1e-4)


class _Combine(torch.nn.Module):
    """``scale * (x[:, a] - x[:, b])`` (``b`` None: ``scale * x[:, a]``), repeated ``n`` times."""

    def __init__(self, a, b, scale, n):
        super().__init__()
        self.a, self.b, self.scale, self.n = a, b, scale, n

    def forward(self, x):
        out = x[:, self.a] - (x[:, self.b] if self.b is not None else 0)
        return torch.stack([self.scale * out] * self.n, dim=1)


@pytest.mark.parametrize("primal_only", [False, True])
def test_primal_dual_iterations_follow_the_docstring_equations(primal_only):
    """LPD: h += A f[1] - y, f -= A^H h[0] / 2; XPD primal only: h = A f[0] - y, f -= A^H h / 2."""
    p = 2
    dual = None if primal_only else [_Combine(2, 3, 1.0, 2)]  # inputs [h0, h1, A f[1], y]
    net = PrimalDualNet([_Combine(p, None, -0.5, p)], dual, num_iter=3, num_primal=p,
                        num_dual=1 if primal_only else 2, cross_all=primal_only)
    b = {k: v.numpy() for k, v in _batch().items() if isinstance(v, torch.Tensor)}
    y, maps, mask = b["masked_kspace"], b["sensitivity_maps"], b["mask"]

    def a_op(x):
        return mask * _fft(maps * x[:, None])

    def a_adj(k):
        return (np.conj(maps) * _ifft(mask * k)).sum(1)

    f = [a_adj(y)] * p
    h = [np.zeros_like(y)] * 2
    for _ in range(3):
        h = [a_op(f[0]) - y] if primal_only else [hi + a_op(f[1]) - y for hi in h]
        f = [fi - 0.5 * a_adj(h[0]) for fi in f]
    out = net(*(torch.from_numpy(b[k]) for k in ("masked_kspace", "sensitivity_maps", "mask")))
    np.testing.assert_allclose(out.numpy(), f[0], atol=1e-4)


def test_haar_transform_is_orthonormal_and_inverted():
    x = torch.randn(2, 3, 6, 8, generator=torch.Generator().manual_seed(0))
    bands = haar_forward(x)
    assert bands.shape == (2, 12, 3, 4)
    assert torch.allclose(bands.norm(), x.norm()) and torch.allclose(haar_inverse(bands), x,
                                                                      atol=1e-6)
    # the LL band of channel 0 is the 2x2 block sum / 2
    assert torch.allclose(bands[:, 0], x[:, 0].unfold(1, 2, 2).unfold(2, 2, 2).sum((-2, -1)) / 2,
                          atol=1e-6)


def _pairs_to_complex(x):
    return x[:, 0::2] + 1j * x[:, 1::2]


def _complex_to_pairs(z):
    return np.stack([z.real, z.imag], axis=2).reshape(z.shape[0], -1, *z.shape[2:])


def test_multidomain_convolution_matches_its_equation():
    """``[conv_I(x), F^-1 conv_K(F x)]`` with F on (real, imag) channel pairs."""
    torch.manual_seed(0)
    layer = MultiDomainConv2d(4, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 4, 6, 8)
    with torch.no_grad():
        out = layer(x).numpy()
        kspace = _complex_to_pairs(_fft(_pairs_to_complex(x.numpy())))
        conv_k = layer.kspace_conv(torch.from_numpy(kspace.astype(np.float32))).numpy()
        expected = np.concatenate([layer.image_conv(x).numpy(),
                                   _complex_to_pairs(_ifft(_pairs_to_complex(conv_k)))], axis=1)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_multidomainnet_standardizes_each_coil_image():
    """The U-Net of coil ``c`` sees ``[x, u_c - S_c x]``, ``u_c = F^-1 y_c``, ``x = S^H u``."""
    model = _model("MultiDomainNet")
    seen = []
    model.net.unet.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    batch = _batch()
    with torch.no_grad():
        model(**_inputs(batch))
    maps = batch["sensitivity_maps"].numpy()
    coils = _ifft(batch["masked_kspace"].numpy())
    combined = (np.conj(maps) * coils).sum(1)
    expected = np.stack([np.broadcast_to(combined[:, None], coils.shape),
                         coils - maps * combined[:, None]], axis=2)
    got = _pairs_to_complex(seen[0].numpy()).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(("name", "extra", "added"), [
    ("LPDNet", {"zero_init": True}, 4),           # 2 ReZero gates per iteration
    ("MultiDomainNet", {"residual": True}, 0),
    ("MultiDomainNet", {"residual": True, "standardization": False}, 0)])
def test_short_training_options_start_at_zero_filled_sense_and_learn(name, extra, added):
    """``zero_init`` (LPDNet) / ``residual`` (MultiDomainNet): the untrained network returns
    the zero-filled SENSE image ``S^H F^-1 y`` exactly, and a training step moves it."""
    batch = _batch()
    plain = _model(name, **{k: v for k, v in extra.items() if k == "standardization"})
    model = _model(name, **extra)
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in plain.parameters()) + added
    maps = batch["sensitivity_maps"].numpy()
    zero_filled = (np.conj(maps) * _ifft(batch["masked_kspace"].numpy())).sum(1)
    with torch.no_grad():
        out = model(**_inputs(batch))
    np.testing.assert_allclose(out.numpy(), zero_filled, atol=1e-5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.training_step(batch, 0).backward()
    opt.step()
    with torch.no_grad():
        assert not torch.allclose(model(**_inputs(batch)), out, atol=1e-4)


def test_demo_multidomainnet_corrects_each_coil_image_seen_as_is():
    """The demo config's MultiDomainNet (the one that beats zero-filled on held-out data,
    BENCHMARKS.md) feeds every coil image ``u_c = F^-1 y_c`` itself to the U-Net, scaled by
    one factor per sample, and adds the U-Net's output to it."""
    from omegaconf import OmegaConf

    from atommic_core.cli.config import compose_config

    cfg = OmegaConf.to_container(compose_config(None, "rec_demo_multidomainnet", []).model)
    cfg.update(TINY["MultiDomainNet"][1])
    torch.manual_seed(0)
    model = models["MultiDomainNet"](cfg)
    seen = []
    model.net.unet.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    batch = _batch()
    with torch.no_grad():
        out = model(**_inputs(batch))
    coils = _ifft(batch["masked_kspace"].numpy())
    got = _pairs_to_complex(seen[0].numpy()).reshape(coils.shape)
    axes = tuple(range(1, coils.ndim))
    scale = (np.conj(got) * coils).sum(axes) / (np.abs(got) ** 2).sum(axes)  # per sample
    np.testing.assert_allclose(got * scale.reshape(-1, *[1] * len(axes)), coils, atol=1e-5)
    assert np.allclose(scale.imag, 0) and not np.allclose(scale, 1)
    zero_filled = (np.conj(batch["sensitivity_maps"].numpy()) * coils).sum(1)
    np.testing.assert_allclose(out.numpy(), zero_filled, atol=1e-5)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from atommic_rec.data.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("zoo_demo")
    make_demo_data(root, coils=2, size=32, volumes=(1, 1, 1), slices=2, seed=0, source="phantom")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TINY))
def test_cli_test_and_predict_from_a_saved_archive(name, demo_data, tmp_path):
    from atommic_core.cli import main

    config, tiny = TINY[name]
    model = _model(name)
    archive = tmp_path / f"{name}.atommic"
    model.save_to(str(archive))
    common = [f"model.data_root={demo_data}", f"exp_manager.exp_dir={tmp_path}",
              "exp_manager.create_tensorboard_logger=false", f"model.restore_path={archive}",
              "model.write_png=false", *(f"model.{k}={v}" for k, v in tiny.items())]
    assert main(["test", "--config-name", config, *common, "+exp_manager.version=test"]) == 0
    rows = list(csv.DictReader(open(tmp_path / config / "test" / "metrics.csv")))
    assert rows[-1]["fname"] == "MEAN" and -1 <= float(rows[-1]["ssim"]) <= 1  # untrained
    assert main(["predict", "--config-name", config, *common,
                 "+exp_manager.version=predict"]) == 0
    files = sorted((tmp_path / config / "predict" / "predictions").glob("*.h5"))
    with h5py.File(files[0]) as f:
        rec = f["reconstruction"][()]
    assert rec.shape == (2, 32, 32) and np.isfinite(rec).all() and rec.max() > 0
