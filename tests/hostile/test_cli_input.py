"""Hostile command-line values: refused by the parser with exit 2 and one line saying what is wrong."""

from __future__ import annotations

import pytest

from tui_trader.cli import build_parser

INPUT_CLASS = "command-line values"

BAD = [
    ("headless", "--speed", "nan"),
    ("headless", "--speed", "inf"),
    ("headless", "--speed", "-inf"),
    ("headless", "--speed", "-1"),
    ("headless", "--speed", "0"),
    ("headless", "--speed", "1e300"),
    ("headless", "--speed", "fast"),
    ("headless", "--duration", "nan"),
    ("headless", "--duration", "inf"),
    ("headless", "--duration", "0"),
    ("headless", "--duration", "-5"),
    ("headless", "--duration", "1e20"),
    ("record", "--out", "x.gz", "--duration", "nan"),
    ("bench", "--rate", "nan"),
    ("bench", "--rate", "-1"),
    ("bench", "--symbols", "0"),
    ("bench", "--messages", "-5"),
    ("--speed", "nan"),
]


@pytest.mark.parametrize("argv", BAD, ids=" ".join)
def test_a_bad_value_is_refused_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(list(argv))  # parsing only: a value let through must not start a run
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error: argument" in err, err
    assert "Traceback" not in err
