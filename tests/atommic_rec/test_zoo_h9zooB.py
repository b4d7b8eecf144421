"""REC zoo (part B): MoDL, VSNet, ProximalGradient, DUNet, RecurrentVarNet, JointICNet.

Each model: a few training steps lower the loss, save/restore gives identical outputs, its
data-consistency step equals the equation in its docstring (checked against NumPy or a closed
form), its reference config has ATOMMIC's parameter count, and the CLI trains, tests and
predicts with it.
"""

import csv

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from rec_synthetic import disc_image, smooth_maps

from atommic_core.registry import models
from atommic_rec.physics import adjoint_operator, forward_operator

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")

H = W = 16
COILS = 3
TINY = {
    "MoDL": {"unrolled_iterations": 2, "residual_blocks": 1, "channels": 4,
             "conjugate_gradient_iterations": 3},
    "VSNet": {"num_cascades": 2, "imspace_conv_hidden_channels": 4, "imspace_conv_n_convs": 3},
    "ProximalGradient": {"unrolled_iterations": 2, "proximal_operator": "cnn", "channels": 4,
                         "residual_blocks": 1},
    "DUNet": {"num_iter": 2, "didn_hidden_channels": 4, "didn_num_dubs": 1,
              "data_consistency_term": "PROX", "data_consistency_iterations": 3},
    "RecurrentVarNet": {"num_steps": 2, "recurrent_hidden_channels": 4, "recurrent_num_layers": 2,
                        "initializer_channels": [4, 4], "initializer_dilations": [1, 2]},
    "JointICNet": {"num_iter": 1, "kspace_unet_num_filters": 4, "imspace_unet_num_filters": 4,
                   "sens_unet_num_filters": 4, "step_init": 0.25},
}
# ATOMMIC 1.0.1's parameter counts at its reference configs (`benchmarks/rec_zoo.py params`
# builds both; benchmarks/results/rec_zoo_params.md records the printout)
ATOMMIC_PARAMS = {"MoDL": 407_809, "VSNet": 76_229, "ProximalGradient": 1, "DUNet": 3_279_698,
                  "RecurrentVarNet": 1_796_120, "JointICNet": 349_654}
CONFIGS = {"MoDL": "rec_modl", "VSNet": "rec_vsnet", "ProximalGradient": "rec_proximal_gradient",
           "DUNet": "rec_dunet", "RecurrentVarNet": "rec_recurrentvarnet",
           "JointICNet": "rec_jointicnet"}


def _batch(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    maps = smooth_maps(COILS, H, W)
    images = torch.stack([disc_image(H, W) * (1 + 0.2 * i) for i in range(n)])
    mask = (torch.rand(1, 1, W, generator=g) < 0.4).float()
    mask[..., W // 2 - 2: W // 2 + 2] = 1
    mask = mask.expand(n, 1, 1, W)
    y = forward_operator(images, maps.expand(n, -1, -1, -1), mask)
    return {"masked_kspace": y, "sensitivity_maps": maps.expand(n, -1, -1, -1).clone(),
            "mask": mask, "initial_image": adjoint_operator(y, maps, mask),
            "target": images.abs(), "scale": torch.ones(n), "fname": ["v.h5"] * n,
            "slice_idx": torch.arange(n)}


def _model(name, **extra):
    torch.manual_seed(0)
    return models[name]({**TINY[name], **extra, "optim": {"name": "adam", "lr": 1e-2}})


@pytest.mark.parametrize("name", list(TINY))
def test_a_few_training_steps_lower_the_loss(name):
    model = _model(name)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = _batch()
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", list(TINY))
def test_save_restore_gives_identical_outputs(name, tmp_path):
    model = _model(name).eval()
    path = model.save_to(tmp_path / f"{name}.atommic")
    restored = models[name].restore_from(path).eval()
    batch = model._prepare(_batch())
    with torch.no_grad():
        torch.testing.assert_close(restored.reconstruct(batch)[-1], model.reconstruct(batch)[-1],
                                   rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in TINY if n != "JointICNet"])  # maps are learned
def test_phase_equivariant_option_rotates_with_the_data(name):
    model = _model(name, phase_equivariant=True).eval()
    b = _batch()
    rot = torch.exp(torch.tensor(1j * 1.3))
    args = (b["masked_kspace"], b["sensitivity_maps"], b["mask"], b["initial_image"])
    rotated = (b["masked_kspace"] * rot, *args[1:3], b["initial_image"] * rot)
    with torch.no_grad():
        torch.testing.assert_close(model(*rotated), model(*args) * rot, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list(ATOMMIC_PARAMS))
def test_reference_config_has_atommic_parameter_count(name):
    from pathlib import Path

    import atommic_rec

    cfg = OmegaConf.load(Path(atommic_rec.__file__).parent / "configs" / f"{CONFIGS[name]}.yaml")
    model = models[cfg.model.model_name](cfg.model)
    assert sum(p.numel() for p in model.parameters()) == ATOMMIC_PARAMS[name]


# -- data-consistency steps against their equations ---------------------------------------------
def _fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1))


def _ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1))


def _dense_sense(maps, mask):
    """``A = M F S`` as a dense [C*H*W, H*W] matrix built with NumPy FFTs."""
    _, h, w = maps.shape
    eye = np.eye(h * w).reshape(h * w, h, w)
    cols = [(mask * _fft2c(maps * e[None])).ravel() for e in eye]
    return np.stack(cols, axis=1)


def test_conjugate_gradient_solves_hpd_systems_per_batch_element():
    from atommic_rec.nets import conjugate_gradient

    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 6, 6, dtype=torch.complex128, generator=g)
    mats = a @ a.conj().transpose(-1, -2) + torch.eye(6) * torch.tensor([0.5, 3.0]).view(2, 1, 1)
    rhs = torch.randn(2, 6, dtype=torch.complex128, generator=g)
    x = conjugate_gradient(lambda v: (mats @ v.unsqueeze(-1)).squeeze(-1), rhs, 6)
    torch.testing.assert_close(x, torch.linalg.solve(mats, rhs), rtol=1e-8, atol=1e-8)
    zero = conjugate_gradient(lambda v: 2 * v, torch.zeros(1, 3, dtype=torch.complex64), 4)
    assert torch.equal(zero, torch.zeros_like(zero))  # 0/0 never happens


def test_modl_dc_equals_regularised_least_squares_and_differentiates_through_cg():
    from atommic_rec.nets import solve_regularised_sense

    g = torch.Generator().manual_seed(1)
    h = w = 4
    maps = smooth_maps(2, h, w).to(torch.complex128)
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0]).view(1, 1, 1, w).double()
    y = torch.randn(1, 2, h, w, dtype=torch.complex128, generator=g) * mask
    z = torch.randn(1, h, w, dtype=torch.complex128, generator=g)
    mu = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    x = solve_regularised_sense(y, maps[None], mask, mu, z, iterations=h * w)
    a = _dense_sense(maps.numpy(), mask.numpy()[0])
    want = np.linalg.solve(a.conj().T @ a + 0.3 * np.eye(h * w),
                           a.conj().T @ y.numpy().ravel() + 0.3 * z.numpy().ravel())
    np.testing.assert_allclose(x.detach().numpy().ravel(), want, rtol=1e-6, atol=1e-8)
    assert torch.autograd.gradcheck(
        lambda m, zz: solve_regularised_sense(y, maps[None], mask, m, zz, iterations=5),
        (mu, z.clone().requires_grad_()))


def test_vsnet_step_equals_its_equations():
    from atommic_rec.nets import variable_splitting_step

    g = torch.Generator().manual_seed(2)
    maps = smooth_maps(COILS, H, W)
    mask = (torch.rand(1, 1, 1, W, generator=g) < 0.5).float()
    x, z = (torch.randn(1, H, W, dtype=torch.complex64, generator=g) for _ in range(2))
    y = torch.randn(1, COILS, H, W, dtype=torch.complex64, generator=g) * mask
    lam, beta = torch.tensor([0.7]), torch.tensor([1.9])
    out = variable_splitting_step(x, z, y, maps[None], mask, lam, beta)
    s, m = maps.numpy(), mask.numpy()[0]
    u = _ifft2c((0.7 * m * y.numpy()[0] + _fft2c(s * x.numpy())) / (1 + 0.7 * m))
    want = (1.9 * z.numpy()[0] + (s.conj() * u).sum(0)) / (1.9 + (np.abs(s) ** 2).sum(0))
    np.testing.assert_allclose(out.numpy()[0], want, rtol=1e-4, atol=1e-5)


def test_vsnet_denoiser_is_the_shared_residual_conv_stack(monkeypatch):
    """``z = x + CNN(x)`` with the ConvStack of CascadeNet: ATOMMIC's block (batch norm after
    every convolution, the last included; one PReLU slope per stack)."""
    from atommic_rec.nets import VSNetNet
    from atommic_rec.nets.complex_channels import ConvStack

    net = VSNetNet(num_cascades=2, hidden_channels=4, n_convs=3, batchnorm=True)
    stack = net.denoisers[0].net
    assert isinstance(stack, ConvStack)
    kinds = [type(m).__name__ for m in stack.layers]
    assert kinds == ["Conv2d", "BatchNorm2d", "PReLU"] * 2 + ["Conv2d", "BatchNorm2d"]
    assert sum(p.numel() for p in stack.parameters()) == \
        (2 * 4 * 9 + 4) + (4 * 4 * 9 + 4) + (4 * 2 * 9 + 2) + 2 * (4 + 4 + 2) + 1
    x = torch.randn(1, H, W, dtype=torch.complex64)
    net.eval()
    seen = []
    import atommic_rec.nets.vsnet as vsnet_module

    def record(image, denoised, *args, **kwargs):
        seen.append((image, denoised))
        return step(image, denoised, *args, **kwargs)

    step = vsnet_module.variable_splitting_step
    monkeypatch.setattr(vsnet_module, "variable_splitting_step", record)
    with torch.no_grad():
        for layer in stack.layers[-2:]:  # last convolution and its batch norm output 0
            for p in layer.parameters():
                p.zero_()
        net.iterate(x, torch.zeros(1, COILS, H, W, dtype=torch.complex64),
                    smooth_maps(COILS, H, W)[None], torch.ones(1, 1, 1, W))
    image, denoised = seen[0]
    assert torch.equal(image, x) and torch.allclose(denoised, x, atol=1e-6)  # z = x + 0


def test_proximal_gradient_tikhonov_step_and_fixed_point():
    from atommic_rec.nets import ProximalGradientNet, solve_regularised_sense

    b = _batch(1)
    y, s, m = b["masked_kspace"], b["sensitivity_maps"], b["mask"]
    one = ProximalGradientNet(iterations=1, mu=0.2, step_size=0.8)
    x0 = adjoint_operator(y, s, m)
    grad = adjoint_operator(forward_operator(x0, s, m) - y, s, m)
    with torch.no_grad():
        torch.testing.assert_close(one(y, s, m), (x0 - 0.8 * grad) / (1 + 0.8 * 0.2))
        many = ProximalGradientNet(iterations=300, mu=0.2)(y, s, m)
    solution = solve_regularised_sense(y, s, m, 0.2, torch.zeros_like(x0), iterations=60)
    torch.testing.assert_close(many, solution, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("term", ["GD", "PROX", "VS", "ID"])
def test_dunet_data_consistency_layers_equal_their_equations(term):
    from atommic_rec.nets import build_data_consistency

    g = torch.Generator().manual_seed(3)
    h = w = 4
    maps = smooth_maps(2, h, w).to(torch.complex128)
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0]).view(1, 1, 1, w).double()
    y = torch.randn(1, 2, h, w, dtype=torch.complex128, generator=g) * mask
    x = torch.randn(1, h, w, dtype=torch.complex128, generator=g)
    layer = build_data_consistency(term, lam=0.4, alpha=0.3, beta=0.6, iterations=h * w).double()
    with torch.no_grad():
        out = layer(x, y, maps[None], mask).numpy().ravel()
    a = _dense_sense(maps.numpy(), mask.numpy()[0])
    xv, yv = x.numpy().ravel(), y.numpy().ravel()
    if term == "GD":
        want = xv - 0.4 * a.conj().T @ (a @ xv - yv)
    elif term == "PROX":
        want = np.linalg.solve(np.eye(h * w) + 0.4 * a.conj().T @ a, xv + 0.4 * a.conj().T @ yv)
    elif term == "VS":
        s, m = maps.numpy(), mask.numpy()[0]
        k = _fft2c(s * x.numpy()[0])
        k = (1 - m) * k + m * (0.3 * k + 0.7 * y.numpy()[0])
        want = (0.6 * x.numpy()[0] + 0.4 * (s.conj() * _ifft2c(k)).sum(0)).ravel()
    else:
        want = xv
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_recurrentvarnet_kspace_update_equals_its_equation():
    """Two steps with a stub unit returning a fixed image term ``w``: the k-space recursion."""
    from atommic_rec.nets import RecurrentVarNetNet
    from atommic_rec.physics import complex_to_channels

    g = torch.Generator().manual_seed(4)
    maps = smooth_maps(COILS, H, W)[None]
    mask = (torch.rand(1, 1, 1, W, generator=g) < 0.5).float()
    y = torch.randn(1, COILS, H, W, dtype=torch.complex64, generator=g) * mask
    w = torch.randn(1, H, W, dtype=torch.complex64, generator=g)

    class Stub(torch.nn.Module):
        def forward(self, x, hidden):
            return complex_to_channels(w), hidden

    net = RecurrentVarNetNet(num_steps=2, hidden_channels=2, num_layers=1,
                             no_parameter_sharing=False, learned_initializer=False)
    net.units[0] = Stub()
    with torch.no_grad():
        net.step_sizes.fill_(0.7)
        out = net(y, maps, mask).numpy()[0]
    s, m, yv = maps.numpy()[0], mask.numpy()[0], y.numpy()[0]
    k = yv
    for _ in range(2):
        k = k - 0.7 * m * (k - yv) + _fft2c(s * w.numpy()[0])
    np.testing.assert_allclose(out, (s.conj() * _ifft2c(k)).sum(0), rtol=1e-4, atol=1e-5)


def test_jointicnet_sensitivity_gradient_is_the_data_term_gradient():
    from atommic_rec.nets import sensitivity_gradient

    b = _batch(1)
    maps = (b["sensitivity_maps"] * 0.9).requires_grad_()
    x = b["initial_image"]
    loss = 0.5 * (forward_operator(x, maps, b["mask"]) - b["masked_kspace"]).abs().pow(2).sum()
    loss.backward()
    got = sensitivity_gradient(x, maps.detach(), b["masked_kspace"], b["mask"])
    torch.testing.assert_close(got, maps.grad, rtol=1e-4, atol=1e-5)


def test_jointicnet_iteration_equals_its_equations():
    model = _model("JointICNet").eval()
    net, b = model.net, _batch(1)
    y, mask = b["masked_kspace"], b["mask"]
    with torch.no_grad():
        net.conv_out.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        out = net(y, mask).numpy()[0]
        s0 = net.sens_net(y, mask)
        x0 = (s0.conj() * torch.from_numpy(_ifft2c(y.numpy()))).sum(1)
        d_i = net.image_model(x0).numpy()[0]
        d_f = torch.from_numpy(_ifft2c(net.kspace_model(torch.from_numpy(
            _fft2c(x0.numpy())).to(torch.complex64)).numpy())).numpy()[0]
        p = {k: getattr(net, k)[0].item() for k in ("reg_param_I", "reg_param_F", "reg_param_C",
                                                    "lr_image", "lr_sens")}
    s, x, yv, m = s0.numpy()[0], x0.numpy()[0], y.numpy()[0], mask.numpy()[0]
    grad_s = _ifft2c(m * (m * _fft2c(s * x) - yv)) * x.conj()
    s1 = s - 2 * p["lr_sens"] * (p["reg_param_C"] * (s - s) + grad_s)
    grad_x = (p["reg_param_I"] * (x - d_i) + p["reg_param_F"] * (x - d_f) +
              (s1.conj() * _ifft2c(m * (m * _fft2c(s1 * x) - yv))).sum(0))
    np.testing.assert_allclose(out, x - 2 * p["lr_image"] * grad_x, rtol=1e-3, atol=1e-4)


# -- bad configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "extra", "match"), [
    ("MoDL", {"penalization_weight": 0.0}, "expected init > 0"),
    ("ProximalGradient", {"proximal_operator": "wavelet"}, "expected proximal_operator in"),
    ("VSNet", {"imspace_model_architecture": "MWCNN"}, "expected model.imspace_model_arch"),
    ("VSNet", {"imspace_conv_hidden_channels": 0}, "hidden channels >= 1"),
    ("DUNet", {"data_consistency_term": "ADMM"}, "expected data_consistency_term in"),
])
def test_bad_model_config_is_one_clear_error(name, extra, match):
    with pytest.raises(ValueError, match=match):
        _model(name, **extra)


# -- the CLI --------------------------------------------------------------------------------------
CLI_TINY = {
    "rec_demo_modl": ["model.unrolled_iterations=1", "model.residual_blocks=1",
                      "model.channels=4", "model.conjugate_gradient_iterations=2"],
    "rec_demo_vsnet": ["model.num_cascades=1", "model.imspace_conv_hidden_channels=4"],
    "rec_demo_proximal_gradient": ["model.unrolled_iterations=1", "model.channels=4",
                                   "model.residual_blocks=1"],
    "rec_demo_dunet": ["model.num_iter=1", "model.didn_hidden_channels=4"],
    "rec_demo_recurrentvarnet": ["model.num_steps=1", "model.recurrent_hidden_channels=4"],
    "rec_demo_jointicnet": ["model.num_iter=1", "model.kspace_unet_num_filters=2",
                            "model.imspace_unet_num_filters=2", "model.sens_unet_num_filters=2"],
}


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory):
    from atommic_rec.data.demo_data import make_demo_data

    root = tmp_path_factory.mktemp("zoo_b")
    make_demo_data(root, coils=2, size=16, volumes=(1, 1, 1), slices=1, seed=0,
                   source="phantom")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("config", list(CLI_TINY))
def test_cli_test_and_predict_from_a_saved_archive(config, cli_data, tmp_path):
    """The shipped demo config (shrunk) saved as .atommic, then `test` and `predict` via the CLI.

    Training through the CLI is the same code for every REC model (covered by test_rec_cli);
    here each model's own build, restore, evaluation and prediction paths run.
    """
    from atommic_core.cli import main
    from atommic_core.cli.config import compose_config

    common = [f"model.data_root={cli_data}", f"exp_manager.exp_dir={tmp_path}",
              "exp_manager.create_tensorboard_logger=false", "model.write_png=false",
              *CLI_TINY[config]]
    cfg = compose_config(None, config, common)
    archive = models[cfg.model.model_name](cfg.model).save_to(tmp_path / f"{config}.atommic")
    for command in ("test", "predict"):
        assert main([command, "--config-name", config, *common,
                     f"model.restore_path={archive}", f"+exp_manager.version={command}"]) == 0
    rows = list(csv.DictReader(open(tmp_path / config / "test" / "metrics.csv")))
    assert rows[-1]["fname"] == "MEAN" and 0 < float(rows[-1]["ssim"]) <= 1
    assert len(list((tmp_path / config / "predict" / "predictions").glob("*.h5"))) == 1
