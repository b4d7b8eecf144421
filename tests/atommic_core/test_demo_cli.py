"""The shared command-line surface of the collections' demo commands."""

from __future__ import annotations

import pytest

from atommic_core.demo_cli import default_threads, demo_parser, trainer_max_time


def test_default_threads_follow_omp_num_threads_else_at_most_two_cpus(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    for bad in ("0", "x", ""):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        assert 1 <= default_threads() <= 2


def test_trainer_max_time_is_lightnings_format_and_never_zero():
    assert trainer_max_time(90.5) == "00:01:30:30"
    assert trainer_max_time(0) == "00:00:00:01"


@pytest.mark.parametrize("module", ["atommic_rec.demo", "atommic_qi.demo", "atommic_mtl.demo"])
def test_every_demo_parses_the_shared_options_and_its_own(module):
    import importlib

    parse = importlib.import_module(module)._parse
    args = parse(["--out", "o", "--threads", "1", "--coils", "2", "--size", "32",
                  "--minutes", "0.5", "model.a=1"])
    assert (args.out, args.threads, args.coils, args.size, args.minutes, args.overrides) == \
        ("o", 1, 2, 32, 0.5, ["model.a=1"])


def test_demo_parser_names_the_command_and_the_model():
    p = demo_parser("atommic_x", "doc", out="x_demo", coils=4, size=64, model="XNet")
    assert p.prog == "python -m atommic_x demo"
    assert p.parse_args([]).out == "x_demo" and "XNet" in p.format_help()
