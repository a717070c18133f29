"""Marking a command's statuses published is one commit (one sync of the log), not one per status."""

from __future__ import annotations

import sqlite3

from tui_trader import messages as m
from tui_trader.journal import Journal


def status(order_id: str, state: str) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=order_id, symbol="BTCUSDT", side="buy", purpose="entry", status=state, mode="paper", ts=1
    )


def test_statuses_marked_published_together_are_one_commit(tmp_path):
    path = tmp_path / "journal.sqlite3"
    jr = Journal(path)
    seqs = jr.complete(None, [status(o, st) for o in "abcd" for st in ("accepted", "filled")])
    probe = sqlite3.connect(path)

    def log_frames_of(mark) -> int:
        probe.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty log: what follows is all that is in it
        mark()
        return probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]

    one = log_frames_of(lambda: jr.mark_published(seqs[:1]))
    # The rows share their pages: one commit writes them once; a commit per row would write them per row.
    assert log_frames_of(lambda: jr.mark_published(seqs[1:])) == one
    probe.close()
    assert jr.unpublished() == []
    jr.close()
