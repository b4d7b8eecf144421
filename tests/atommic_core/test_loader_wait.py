"""LoaderWaitMonitor: the time the loop blocks on the loader is measured and reported."""

from __future__ import annotations

import json
import time

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from atommic_core.callbacks import LoaderWaitMonitor
from atommic_core.testing import BoringModel

_DELAY = 0.03


class SlowDataset(Dataset):
    """Four features and a target per item, each item taking ``_DELAY`` seconds to load."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(_DELAY)
        return torch.full((4,), float(index)), torch.zeros(1)


def test_wait_is_the_loading_time_and_summary_is_written(tmp_path):
    out = tmp_path / "sub" / "wait.json"
    monitor = LoaderWaitMonitor(output=str(out))
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, callbacks=[monitor],
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    model = BoringModel({"optim": {"name": "sgd", "lr": 0.01}})
    trainer.fit(model, DataLoader(SlowDataset(), batch_size=2))
    summary = json.loads(out.read_text())
    assert summary == monitor.summary()
    assert summary["steps"] == 6 and len(monitor.waits) == 4 and len(monitor.first_waits) == 2
    assert 2 * _DELAY * 1e3 <= summary["wait_ms_median"] < 20 * _DELAY * 1e3  # two items a batch
    assert 0.0 < summary["wait_fraction"] < 1.0 and summary["step_ms_median"] > 0.0
    assert not list(out.parent.glob("*.tmp"))
