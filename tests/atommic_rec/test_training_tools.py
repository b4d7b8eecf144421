"""Shared training options of every REC model: intermediate-output loss weighting."""

import pytest
import torch
from test_models import TINY, _batch
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
