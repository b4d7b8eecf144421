"""Grouped distributed evaluation: each group whole on one rank, exactly once."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
from atommic_core_dist_worker import free_port, gather_sampled
from torch.utils.data import DistributedSampler

from atommic_core.distributed import (
    GroupedDistributedSampler,
    all_gather_objects,
    assign_groups,
    world,
)
from atommic_core.testing import BoringModel

GROUPS = ["a"] * 5 + ["b"] * 3 + ["c"] * 4 + ["d"] * 1 + ["e"] * 2


def test_assign_groups_keeps_groups_whole_and_covers_every_example_once():
    for size in (1, 2, 3):
        split = assign_groups(GROUPS, size)
        flat = sorted(i for part in split for i in part)
        assert flat == list(range(len(GROUPS)))
        for part in split:
            assert part == sorted(part)
            for key in {GROUPS[i] for i in part}:  # every member of a group is on this rank
                assert all(i in part for i, g in enumerate(GROUPS) if g == key)
    loads = [len(p) for p in assign_groups(GROUPS, 2)]
    assert max(loads) - min(loads) <= 1  # 15 examples: 8 / 7


def test_sampler_without_process_group_yields_everything_in_order():
    sampler = GroupedDistributedSampler(GROUPS)
    assert world() == (0, 1)
    assert list(sampler) == list(range(len(GROUPS))) and len(sampler) == len(GROUPS)
    assert isinstance(sampler, DistributedSampler) and not sampler.shuffle
    assert all_gather_objects({"x": 1}) == [{"x": 1}]


class _Grouped(torch.utils.data.TensorDataset):
    example_groups = GROUPS


def test_model_uses_grouped_sampler_for_evaluation_splits_only(monkeypatch):
    model = BoringModel({"in_features": 2})
    data = _Grouped(torch.zeros(len(GROUPS), 2), torch.zeros(len(GROUPS), 1))
    monkeypatch.setattr(BoringModel, "build_dataset", lambda self, cfg, split: data)
    for split in ("validation", "test", "predict"):
        loader = model.build_dataloader({"batch_size": 2, "drop_last": True}, split)
        assert isinstance(loader.sampler, GroupedDistributedSampler)
        assert sum(len(b[0]) for b in loader) == len(GROUPS)  # drop_last ignored: groups whole
    train = model.build_dataloader({"batch_size": 2, "shuffle": False}, "train")
    assert not isinstance(train.sampler, GroupedDistributedSampler)


@pytest.mark.slow
def test_two_processes_see_disjoint_whole_groups(tmp_path):
    out = str(tmp_path / "seen.pt")
    mp.spawn(gather_sampled, args=(2, free_port(), GROUPS, out), nprocs=2, join=True)
    per_rank = torch.load(out)
    assert per_rank == assign_groups(GROUPS, 2)
    assert sorted(per_rank[0] + per_rank[1]) == list(range(len(GROUPS)))
    assert not {GROUPS[i] for i in per_rank[0]} & {GROUPS[i] for i in per_rank[1]}
    assert "found 1 for 2 processes" in torch.load(out + ".err")


def test_gather_groups_merges_every_rank_and_warns_once_about_split_groups(monkeypatch, caplog):
    import atommic_core.distributed as distributed

    assert distributed.gather_groups({"v1": 1}) == {"v1": 1}  # not distributed: this rank's
    parts = [{"v1": 1, "v2": 2}, {"v3": 3}]
    monkeypatch.setattr(distributed, "all_gather_objects", lambda local: parts)
    with caplog.at_level("WARNING", logger="atommic_core.distributed"):
        assert distributed.gather_groups({}, "val metrics") == {"v1": 1, "v2": 2, "v3": 3}
    assert not caplog.records
    parts = [{"v1": 1, "v2": 2}, {"v2": 5}]
    with caplog.at_level("WARNING", logger="atommic_core.distributed"):
        assert distributed.gather_groups({}, "val metrics") == {"v1": 1, "v2": 5}
    assert len(caplog.records) == 1
    assert "val metrics: group(s) v2 were split" in caplog.records[0].getMessage()
