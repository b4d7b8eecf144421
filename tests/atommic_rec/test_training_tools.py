"""Shared training options of every REC model: intermediate-output loss weighting."""

import numpy as np
import pytest
import torch
from test_models import TINY, _batch, _items
from torch import nn

from atommic_core.errors import ConfigError
from atommic_rec.losses import intermediate_weights
from atommic_rec.models import CIRIM, ReconstructionModel

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")


class _Steps(ReconstructionModel):
    """A throwaway unrolled model: three estimates ``a_k * x0`` (one level)."""

    def build_networks(self) -> None:
        self.a = nn.Parameter(torch.tensor([0.5, 0.8, 1.0]))

    def reconstruct(self, batch):
        return [a * batch["initial_image"] for a in self.a]


@pytest.mark.parametrize("weighting", ["logspace", "uniform", "last"])
def test_any_model_returning_several_estimates_gets_the_weighting(weighting):
    model = _Steps({"intermediate_loss_weighting": weighting})
    b = model._prepare(_batch())
    per_estimate = torch.stack([model.loss_fn(e.abs(), b["target"])
                                for e in model.reconstruct(b)])
    expected = (intermediate_weights(3, weighting) * per_estimate).sum()
    assert model.training_step(_batch(), 0).item() == pytest.approx(expected.item(), rel=1e-5)


def test_cirim_weighs_cascades_and_time_steps_each_on_a_log_scale():
    cls, cfg = TINY["CIRIM"]  # 2 cascades x 2 time steps
    torch.manual_seed(0)
    model = cls({**cfg, "intermediate_loss_weighting": "logspace"})
    assert model.estimate_levels(4) == (2, 2)
    b = model._prepare(_batch())
    per_estimate = torch.stack([model.loss_fn(e.abs(), b["target"])
                                for e in model.reconstruct(b)])
    w = torch.outer(torch.logspace(-1, 0, 2), torch.logspace(-1, 0, 2)).flatten()
    expected = (w / w.sum() * per_estimate).sum()
    assert model.training_step(_batch(), 0).item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_weighting_is_a_config_error_at_construction():
    with pytest.raises(ConfigError, match=r"found 'exp'; hint: set model\.intermediate_loss"):
        CIRIM({**TINY["CIRIM"][1], "intermediate_loss_weighting": "exp"})


# -- learned coil maps (use_sens_net) for every model ------------------------------------------
SENS = {"use_sens_net": True, "sens_chans": 2, "sens_pools": 2}


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_varnet_with_the_shared_sens_net_is_the_old_varnet():
    from atommic_rec.models import VarNet
    from atommic_rec.nets import VarNetNet

    cfg = {**TINY["VarNet"][1], **SENS}
    torch.manual_seed(3)
    model = VarNet(cfg)
    torch.manual_seed(3)  # the old layout: the sens net inside the VarNet network
    old = VarNetNet(num_cascades=2, chans=4, num_pools=2, use_sens_net=True, sens_chans=2,
                    sens_pools=2)
    assert _count(model) == _count(old)
    b = model._prepare(_batch())
    with torch.no_grad():
        expected = old(b["masked_kspace"], b["sensitivity_maps"], b["mask"])
        assert torch.equal(model.reconstruct(b)[-1], expected)  # same seeded init, same output
        # weights saved with the old key layout restore into the new one
        fresh = VarNet(cfg)
        fresh.load_state_dict({f"net.{k}": v for k, v in old.state_dict().items()})
        assert torch.equal(fresh.reconstruct(fresh._prepare(_batch()))[-1], expected)


@pytest.mark.parametrize("name", ["UNet", "CIRIM"])
def test_any_model_can_learn_its_coil_maps(name):
    cls, cfg = TINY[name]
    plain, model = cls(cfg), cls({**cfg, **SENS})
    assert _count(model) - _count(plain) == _count(model.coil_sensitivity_net) > 0
    b = _batch()
    wrong = {**b, "sensitivity_maps": torch.randn_like(b["sensitivity_maps"]),
             "initial_image": torch.zeros_like(b["initial_image"])}
    with torch.no_grad():  # the batch's maps (and the x0 made with them) are not used
        assert torch.equal(model.reconstruct(model._prepare(b))[-1],
                           model.reconstruct(model._prepare(wrong))[-1])
    model.training_step(b, 0).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.coil_sensitivity_net.parameters())


# -- SSDU self-supervised training ---------------------------------------------------------------
def _column_mask(w=32, h=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    line = (torch.rand(w, generator=g) < 0.4).float()
    line[w // 2 - 3: w // 2 + 3] = 1
    return line.expand(1, h, w)


@pytest.mark.parametrize("selection", ["uniform", "gaussian"])
def test_ssdu_split_is_a_seeded_partition_of_the_measured_samples(selection):
    import numpy as np

    from atommic_rec.transforms import ssdu_split_mask

    mask = _column_mask()
    dc, loss = ssdu_split_mask(mask, 0.4, selection, rng=np.random.default_rng(5))
    measured = mask[0] > 0
    assert not (dc.bool() & loss.bool()).any()                      # disjoint
    assert torch.equal(dc.bool() | loss.bool(), measured)           # union = measured
    assert int(loss.sum()) == round(0.4 * int(measured.sum()))      # |Lambda| = rho |Omega|
    assert dc[10:14, 14:18].all()                                   # the ACS block stays in DC
    again, _ = ssdu_split_mask(mask, 0.4, selection, rng=np.random.default_rng(5))
    other, _ = ssdu_split_mask(mask, 0.4, selection, rng=np.random.default_rng(6))
    assert torch.equal(again, dc) and not torch.equal(other, dc)    # seeded


def test_line_split_keeps_whole_columns():
    import numpy as np

    from atommic_rec.transforms import ssdu_split_mask

    mask = _column_mask()
    dc, loss = ssdu_split_mask(mask, 0.4, "gaussian", rng=np.random.default_rng(1), lines=True)
    columns = int(mask[0, 0].sum())
    assert torch.equal(dc + loss, mask[0])
    assert torch.equal(loss, loss[:1].expand_as(loss))               # whole columns
    assert int(loss[0].sum()) == round(0.4 * columns) and dc[0, 14:18].all()


def test_gaussian_selection_favours_the_centre():
    import numpy as np

    from atommic_rec.transforms import ssdu_split_mask

    mask = torch.ones(1, 64, 64)
    yy, xx = torch.meshgrid(torch.arange(64) - 32, torch.arange(64) - 32, indexing="ij")
    radius = (yy.square() + xx.square()).float().sqrt()

    def mean_radius(selection):
        _, loss = ssdu_split_mask(mask, 0.05, selection, rng=np.random.default_rng(0))
        return float(radius[loss.bool()].mean())

    # uniform: ~24 px; gaussian with std 64 / 4 = 16 px per axis: ~20 px (1.25 std)
    assert mean_radius("gaussian") < 0.85 * mean_radius("uniform")


def test_ssdu_transform_is_deterministic_per_item_and_keeps_every_sample():
    from atommic_rec.transforms import SSDUSplit

    kspace = torch.randn(2, 24, 32, dtype=torch.complex64)
    mask = _column_mask()[..., :1, :]  # a line mask [1, 1, W]
    sample = {"masked_kspace": kspace * mask, "mask": mask, "fname": "a.h5", "slice_idx": 3}
    split = SSDUSplit(rho=0.4, seed=1)
    out = split(sample)
    assert out["mask"].shape == out["ssdu_loss_mask"].shape == (1, 24, 32)
    assert torch.equal(out["masked_kspace"] + out["ssdu_loss_kspace"], sample["masked_kspace"])
    assert torch.equal(split(sample)["mask"], out["mask"])             # same item, same split
    assert not torch.equal(split({**sample, "slice_idx": 4})["mask"], out["mask"])
    assert not torch.equal(SSDUSplit(rho=0.4, seed=2)(sample)["mask"], out["mask"])
    auto = SSDUSplit(rho=0.4, acs_block="auto")(sample)  # the whole ACS band stays in DC
    assert auto["mask"][0, :, 13:19].all() and not auto["ssdu_loss_mask"][0, :, 13:19].any()
    with pytest.raises(ValueError, match="acs_block"):
        SSDUSplit(acs_block="big")


def _ssdu_batch():
    from atommic_rec.transforms import SSDUSplit

    split = SSDUSplit(rho=0.4, acs_block=(2, 2))
    items = [split(item) for item in _items()]
    for item in items:
        item["target"] = torch.full_like(item["target"], float("nan"))  # never used
    return torch.utils.data.default_collate(items)


def test_ssdu_mode_trains_without_a_target():
    cls, cfg = TINY["VarNet"]
    torch.manual_seed(0)
    model = cls({**cfg, "ssdu": {"rho": 0.4}})
    batch = _ssdu_batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    with pytest.raises(ConfigError, match="ssdu_loss_mask"):
        model.training_step(_batch(), 0)


def test_ssdu_mode_splits_the_training_split_only(tmp_path):
    from rec_synthetic import write_volume

    write_volume(tmp_path / "a.h5", slices=2, coils=2, h=16, w=16)
    cls, cfg = TINY["VarNet"]
    model = cls({**cfg, "ssdu": True})
    split_cfg = {"data_path": str(tmp_path), "seed": 3, "mask_args": {
        "type": "equispaced1d", "accelerations": [2], "center_fractions": [0.25]}}
    train = model.build_dataset(split_cfg, "train")[0]
    val = model.build_dataset(split_cfg, "val")[0]
    assert "ssdu_loss_mask" in train and "ssdu_loss_mask" not in val
    measured = int(val["mask"].expand(1, 16, 16).sum())
    assert int(train["mask"].sum() + train["ssdu_loss_mask"].sum()) == measured
    with pytest.raises(ConfigError, match="0 < rho < 1"):
        cls({**cfg, "ssdu": {"rho": 1.5}})


class _Zeros(ReconstructionModel):
    """A network that knows nothing: its output is all zeros."""

    def reconstruct(self, batch):
        return [torch.zeros_like(batch["initial_image"])]


def test_final_data_consistency_puts_the_measured_samples_back():
    b = _batch()
    # zeros with the measured samples put back = the SENSE zero-filled image
    on = _Zeros({"final_data_consistency": True})
    assert torch.allclose(on.final_estimate(on._prepare(b)), b["initial_image"], atol=1e-5)
    assert not _Zeros({}).final_estimate(b).abs().any()             # off by default
    assert _Zeros({"ssdu": True}).final_data_consistency            # on under SSDU
    assert not _Zeros({"ssdu": True, "final_data_consistency": False}).final_data_consistency
