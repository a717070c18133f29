"""`tui-trader worker indicator --member I/N | --partitions P,P`: which partitions a sharded worker reads, and
the refusals a user sees (the router is never sharded)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui_trader.commands.worker import member_partitions


def test_members_split_the_partitions_between_them_without_overlap():
    assert member_partitions("0/2", None, 4) == (0, 2)
    assert member_partitions("1/2", None, 4) == (1, 3)
    assert member_partitions(None, "2,0", 4) == (0, 2)
    assert member_partitions(None, None, 4) is None  # all


@pytest.mark.parametrize(
    ("member", "partitions", "reason"),
    [
        ("2/2", None, "0 <= I < N"),
        ("1/x", None, "expected I/N"),
        ("3/4", None, "no partition of 2"),
        (None, "0,5", "partitions 0..1"),
        (None, "a", "numbers separated by commas"),
        ("0/2", "0", "not both"),
    ],
)
def test_a_wrong_member_or_partition_list_is_refused_with_the_reason(member, partitions, reason):
    with pytest.raises(ValueError, match=reason):
        member_partitions(member, partitions, 2)


def test_the_router_refuses_to_be_sharded_and_says_why(tmp_path):
    conf = tmp_path / "s.toml"
    conf.write_text('[bus]\nbackend = "fluvio"\npartitions = 2\n')
    out = subprocess.run(
        [sys.executable, "-m", "tui_trader", "worker", "router", "--member", "0/2", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "risk limits" in out.stderr and "one router must see every signal" in out.stderr
