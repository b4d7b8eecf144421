"""The seven segmentation models: registration, shapes, one gradient step, blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import atommic_seg
from atommic_core.errors import ConfigError
from atommic_seg.models import MODELS
from atommic_seg.nets.blocks import AttentionGate
from atommic_seg.nets.lambda_layer import LambdaLayer
from atommic_seg.nets.transformer import PatchEmbedding

TINY = {
    "SegmentationUNet": {"channels": 4, "num_pool_layers": 2},
    "SegmentationUNet3D": {"channels": 4, "num_pool_layers": 2},
    "SegmentationAttentionUNet": {"channels": 4, "num_pool_layers": 2},
    "SegmentationLambdaUNet": {"channels": 8, "num_pool_layers": 2, "lambda_levels": 2,
                               "lambda_heads": 2, "lambda_query_depth": 4,
                               "lambda_receptive_field": 3},
    "SegmentationDynUNet": {"kernel_sizes": [3, 3, 3], "strides": [1, 2, 2],
                            "filters": [4, 8, 16], "residual": True,
                            "deep_supervision_heads": 1},
    "SegmentationVNet": {"channels": 4, "num_levels": 2, "kernel_size": 3},
    "SegmentationUNETR": {"img_size": [8, 8, 8], "patch_size": 4, "feature_size": 4,
                          "hidden_size": 16, "num_layers": 2, "num_heads": 2},
}
DIMS = {"SegmentationUNet": [2], "SegmentationUNet3D": [3], "SegmentationVNet": [3, 2],
        "SegmentationUNETR": [3, 2]}


def _cases():
    for name in MODELS:
        for dims in DIMS.get(name, [2, 3]):
            yield pytest.param(name, dims, id=f"{name}-{dims}d")


def _build(name, dims, **extra):
    cfg = {"num_classes": 3, **TINY[name], **extra}
    if name not in ("SegmentationUNet", "SegmentationUNet3D"):
        cfg["dimensionality"] = dims
    if name == "SegmentationUNETR":
        cfg["img_size"] = [8] * dims
    torch.manual_seed(0)
    return MODELS[name](cfg)


def test_all_seven_models_are_registered():
    from atommic_core.registry import models

    for name, cls in MODELS.items():
        assert models[name] is cls
    assert len(MODELS) == 7


@pytest.mark.parametrize(("name", "dims"), list(_cases()))
def test_shapes_and_one_gradient_step(name, dims):
    model = _build(name, dims)
    spatial = (6, 11, 9) if dims == 3 else (11, 9)  # odd sizes: padded and cropped back
    image = torch.randn(2, 1, *spatial)
    target = torch.randint(0, 3, (2, *spatial))
    model.eval()
    with torch.no_grad():
        logits = model(image)
    assert logits.shape == (2, 3, *spatial) and logits.dtype == torch.float32
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    loss = model.compute_loss(model(image), target)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    opt.step()
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    assert changed >= len(before) // 2


def test_complex_multilabel_input_channels():
    model = _build("SegmentationUNet", 2, complex_data=True, label_mode="multilabel")
    assert model.in_channels == 2
    logits = model(torch.randn(1, 2, 8, 8))
    target = (torch.rand(1, 3, 8, 8) > 0.5).float()
    assert model.to_labels(logits).shape == (1, 3, 8, 8)
    assert torch.isfinite(model.compute_loss(logits, target))


@pytest.mark.parametrize(("name", "dims", "extra"), [
    ("SegmentationDynUNet", 2, {}),
    ("SegmentationUNet", 2, {"deep_supervision_heads": 1}),
    ("SegmentationAttentionUNet", 3, {"deep_supervision_heads": 1}),
])
def test_deep_supervision_only_in_training(name, dims, extra):
    model = _build(name, dims, **extra)
    spatial = (8,) * dims
    x = torch.randn(1, 1, *spatial)
    model.train()
    outs = model(x)
    assert isinstance(outs, list) and len(outs) == 2 and outs[0].shape == (1, 3, *spatial)
    assert model.net(x)[1].shape == (1, 3, *(4,) * dims)  # the coarse head, upsampled:
    assert outs[1].shape == (1, 3, *spatial)
    target = torch.randint(0, 3, (1, *spatial))
    parts = [model.loss_fn(o, target) for o in outs]
    expected = (parts[0] + 0.5 * parts[1]) / 1.5
    torch.testing.assert_close(model.compute_loss(outs, target), expected)
    model.eval()
    assert model(x).shape == (1, 3, *spatial)


def test_unet_without_deep_supervision_keeps_its_parameters():
    plain = _build("SegmentationUNet", 2)
    assert not any(k.startswith("net.deep_heads") for k in plain.state_dict())
    with pytest.raises(ValueError, match="deep_supervision_heads"):
        _build("SegmentationUNet", 2, deep_supervision_heads=2)  # 2 pool layers: at most 1


def test_context_slices_widen_the_input():
    model = _build("SegmentationUNet", 2, context_slices=2, complex_data=True)
    assert model.in_channels == 10  # 5 slices x (real, imaginary)
    assert model(torch.randn(1, 10, 8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ConfigError, match="context_slices"):
        _build("SegmentationUNet3D", 3, context_slices=1)


def test_config_errors():
    with pytest.raises(ConfigError, match="2D"):
        MODELS["SegmentationUNet"]({"dimensionality": 3})
    with pytest.raises(ConfigError, match="img_size"):
        MODELS["SegmentationUNETR"]({"num_classes": 2})
    with pytest.raises(ConfigError, match="class_names"):
        MODELS["SegmentationUNet"]({"num_classes": 3, "class_names": ["a"]})


def test_attention_gate_weights_skip_in_unit_interval():
    gate = AttentionGate(2, skip_channels=3, gate_channels=5, inter_channels=2)
    x = torch.rand(1, 3, 8, 8)
    out = gate(x, torch.randn(1, 5, 4, 4))
    assert out.shape == x.shape
    assert (out <= x + 1e-6).all() and (out >= 0).all()  # x * alpha, alpha in (0, 1)


def test_lambda_layer_content_is_global():
    torch.manual_seed(0)
    layer = LambdaLayer(2, 4, 8, query_depth=4, heads=2, receptive_field=3).eval()
    x = torch.randn(1, 4, 9, 9)
    y = layer(x)
    assert y.shape == (1, 8, 9, 9)
    x2 = x.clone()
    x2[..., 0, 0] += 5.0  # far corner: outside the local receptive field of the centre
    assert not torch.allclose(layer(x2)[..., 5, 5], y[..., 5, 5])


def test_patch_embedding_interpolates_positions():
    emb = PatchEmbedding(3, 1, 8, patch_size=2, grid_size=(2, 2, 2))
    tokens, grid = emb(torch.randn(1, 1, 4, 6, 8))
    assert grid == (2, 3, 4) and tokens.shape == (1, 24, 8)


def test_sliding_window_matches_whole_input_for_a_pointwise_net():
    model = _build("SegmentationUNet3D", 3, inference={"patch_size": [4, 5, 6], "overlap": 0.5})
    model.net = torch.nn.Conv3d(1, 3, 1)  # pointwise: every window sees the same values
    model.size_divisor = (1, 1, 1)
    image = torch.randn(2, 1, 7, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(model.infer(image), model(image))
    calls = []
    model.forward = lambda x: calls.append(x.shape) or torch.zeros(x.shape[0], 3, *x.shape[2:])
    model.infer(image)
    assert len(calls) == 3 * 3 * 3 and all(c[2:] == (4, 5, 6) for c in calls)


_CONFIGS = sorted(p.stem for p in (Path(atommic_seg.__file__).parent / "configs").glob("*.yaml"))


def test_every_shipped_config_is_tested():
    assert _CONFIGS == sorted(["seg_unet", "seg_unet3d", "seg_attention_unet", "seg_dynunet",
                               "seg_vnet", "seg_unetr", "seg_lambda_unet", "seg_demo_unet"])


@pytest.mark.parametrize("config", _CONFIGS)
def test_shipped_configs_compose_and_build(config):
    from atommic_core.cli.config import compose_config, resolve_model_class

    # restore_path is in every config (null), so test/predict set it without "+"
    cfg = compose_config(None, config, ["model.data_root=/data", "model.restore_path=x.atommic"])
    assert cfg.model.restore_path == "x.atommic"
    model = resolve_model_class(cfg)(cfg.model)
    assert model.num_classes == 4 and model.cfg.train_ds.data_path == "/data/train"
    assert len(model.class_names) == 4 and model.cfg.optim.name == "adam"
