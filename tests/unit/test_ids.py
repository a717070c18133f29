"""Ids: random live; a replay's ids repeat exactly, so a restarted replay re-issues the same commands."""

from __future__ import annotations

import uuid

from tui_trader.ids import IdSource, replay_seed
from tui_trader.settings import Settings, replace_field


def test_seeded_ids_repeat_and_keep_the_uuid4_form():
    a, b = IdSource("seed"), IdSource("seed")
    first = [a.new() for _ in range(5)]
    assert first == [b.new() for _ in range(5)]
    assert len(set(first)) == 5
    assert all(uuid.UUID(i).version == 4 for i in first)


def test_each_worker_has_its_own_sequence():
    root = IdSource("seed")
    router, indicator = root.child("router"), root.child("indicator")
    assert router.new() != indicator.new()
    assert root.child("router").new() == IdSource("seed").child("router").new()


def test_live_ids_are_random():
    a, b = IdSource(), IdSource()
    assert a.new() != b.new()
    assert uuid.UUID(a.new()).version == 4


def test_replay_seed_depends_on_the_files_and_every_setting(tmp_path):
    f = tmp_path / "r.gz"
    f.write_bytes(b"x")
    s = Settings()
    assert replay_seed([str(f)], s) == replay_seed([str(f)], s)
    assert replay_seed([str(f)], s) != replay_seed([str(f)], replace_field(s, "paper", "slippage_bps", 1.0))
    g = tmp_path / "other.gz"
    g.write_bytes(b"x")
    assert replay_seed([str(f)], s) != replay_seed([str(g)], s)
