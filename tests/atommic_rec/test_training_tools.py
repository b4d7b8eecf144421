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
