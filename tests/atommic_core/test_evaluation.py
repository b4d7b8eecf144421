"""EvalStepsMixin: the validation/test steps and panel logging shared by the task models."""

from __future__ import annotations

import pytest


def test_eval_steps_mixin_routes_validation_and_test_batches_to_eval_step():
    from atommic_core.model.evaluation import EvalStepsMixin

    class Model(EvalStepsMixin):
        _trainer = None

        def _eval_step(self, batch, stage):
            return (batch, stage)

    model = Model()
    assert model.validation_step("b", 0) == ("b", "val")
    assert model.test_step("b", 1) == ("b", "test")
    assert model._is_global_zero()
    with pytest.raises(NotImplementedError, match="_eval_step"):
        EvalStepsMixin().validation_step("b", 0)


@pytest.mark.parametrize("rank_zero", [True, False])
def test_val_panels_go_to_tensorboard_on_rank_zero_and_are_forgotten(tmp_path, rank_zero):
    import numpy as np
    from pytorch_lightning.loggers import TensorBoardLogger

    from atommic_core.model.evaluation import EvalStepsMixin, _hwc

    class Model(EvalStepsMixin):
        global_step = 3

        def __init__(self):
            self._trainer = type("T", (), {"is_global_zero": rank_zero})()
            self.loggers = [TensorBoardLogger(str(tmp_path), name="tb", version=0)]
            self._panels = [("vol/0", np.zeros((4, 5, 3), dtype=np.float32))]

    model = Model()
    model._flush_val_panels(dataformats="HWC")
    events = list((tmp_path / "tb" / "version_0").glob("events.out.tfevents.*"))
    assert model._panels == [] and bool(events) is rank_zero
    assert _hwc(np.zeros((1, 4, 5)), "CHW").shape == (4, 5)
    assert _hwc(np.zeros((3, 4, 5)), "CHW").shape == (4, 5, 3)
