"""Training order and per-item randomness are pure functions of (seed, epoch, position)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from atommic_core import training_data
from atommic_core.training_data import (
    ResumableDataLoader,
    ResumableSampler,
    SharedEpoch,
    item_rng,
    resume_loader,
)


def test_order_depends_on_seed_and_epoch_only():
    a, b = ResumableSampler(20, seed=3), ResumableSampler(20, seed=3)
    list(a)  # history does not matter
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b) and sorted(a) == list(range(20))
    b.set_epoch(3)
    assert list(a) != list(b)
    assert list(ResumableSampler(5, seed=0, shuffle=False)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("drop_last", [False, True])
def test_resume_skips_done_batches_and_rolls_over_a_finished_epoch(drop_last):
    full = ResumableSampler(10, seed=1, batch_size=3, drop_last=drop_last)
    full.set_epoch(4)
    order = list(full)
    cut = ResumableSampler(10, seed=1, batch_size=3, drop_last=drop_last)
    cut.resume(4, 2)
    assert list(cut) == order[6:] and list(cut) == order  # the skip applies once
    cut.resume(4, full.batches_per_epoch())  # a finished epoch: start the next one
    nxt = ResumableSampler(10, seed=1, batch_size=3)
    nxt.set_epoch(5)
    assert cut.epoch == 5 and list(cut) == list(nxt)


def test_ranks_share_one_padded_permutation(monkeypatch):
    parts = []
    for rank in (0, 1, 2):
        monkeypatch.setattr(training_data, "world", lambda r=rank: (r, 3))
        sampler = ResumableSampler(7, seed=5)
        assert len(sampler) == 3
        parts.append(list(sampler))
    assert sorted({i for part in parts for i in part}) == list(range(7))
    assert sum(map(len, parts)) == 9


class _Items(Dataset):
    """Each item: its index and a draw from (seed, epoch, index)."""

    def __init__(self) -> None:
        self.epoch = SharedEpoch()

    def set_epoch(self, epoch: int) -> None:
        self.epoch.set(epoch)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> tuple[int, float]:
        return index, float(item_rng(7, self.epoch.get(), index).random())


def _draws(loader) -> list[tuple[int, float]]:
    return [(int(i), float(x)) for idx, xs in loader for i, x in zip(idx, xs, strict=True)]


def test_worker_processes_see_the_epoch_and_resume_exactly():
    def loader(workers: int) -> DataLoader:
        return ResumableDataLoader(_Items(), batch_size=2, sampler=ResumableSampler(8, 1, True, 2),
                                   num_workers=workers, persistent_workers=workers > 0)

    plain, workers = loader(0), loader(1)
    per_epoch = []
    for epoch in (0, 1):
        for ld in (plain, workers):
            ld.sampler.set_epoch(epoch)
            ld.dataset.set_epoch(epoch)
        per_epoch.append(_draws(plain))
        assert _draws(workers) == per_epoch[-1]  # a persistent worker sees the new epoch
    assert per_epoch[0] != per_epoch[1]
    first = per_epoch[1]
    resumed = loader(0)
    resume_loader(resumed, 1, 2)
    assert _draws(resumed) == first[4:]
    resumed.load_state_dict({"epoch": 1, "batches_done": 3})
    assert _draws(resumed) == first[6:]


def test_item_rng_streams_are_independent_and_leave_global_rngs_alone():
    state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    a, b = item_rng(1, 0, 5).random(3), item_rng(1, 0, 5, 1).random(3)
    assert not np.allclose(a, b) and np.allclose(a, item_rng(1, 0, 5).random(3))
    assert np.array_equal(np.random.get_state()[1], state[0])
    assert torch.equal(torch.get_rng_state(), state[1])


def test_end_of_epoch_checkpoint_records_the_epoch_its_batches_belong_to(tmp_path):
    import pytorch_lightning as pl

    from atommic_core.testing import BoringModel

    torch.manual_seed(0)
    model = BoringModel({"train_ds": {"num_samples": 8, "batch_size": 2},
                         "validation_ds": {"num_samples": 4, "batch_size": 2},
                         "optim": {"name": "sgd", "lr": 0.1}})
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True,
                                                                 save_top_k=0)])
    trainer.fit(model)
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    # 4 batches of epoch 1 are done: resuming starts epoch 2 (not 3)
    assert last["atommic_train_progress"] == {"epoch": 1, "batches_done": 4}
    sampler = ResumableSampler(8, 0, batch_size=2)
    sampler.resume(**last["atommic_train_progress"])
    assert sampler.epoch == 2
