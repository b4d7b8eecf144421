"""The collections' shared subcommand dispatcher."""

import pytest

from atommic_core.cli.subcommands import dispatch


def _commands(seen):
    return {"make": ("OUT", "write things", lambda argv: seen.append(list(argv)) or 0),
            "fail": ("", "always 3", lambda argv: 3)}


def test_runs_the_command_with_the_remaining_arguments():
    seen = []
    assert dispatch("prog", _commands(seen), ["make", "out", "--x"]) == 0
    assert seen == [["out", "--x"]]
    assert dispatch("prog", _commands(seen), ["fail"]) == 3


@pytest.mark.parametrize(("argv", "code"), [([], 2), (["nope"], 2), (["-h"], 0), (["--help"], 0)])
def test_usage_lists_every_command(argv, code, capsys):
    assert dispatch("python -m prog", _commands([]), argv) == code
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m prog {make,fail} ...")
    assert "make OUT" in err and "write things" in err and "always 3" in err
