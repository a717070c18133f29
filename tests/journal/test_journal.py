"""Journal: durable commands and statuses, publish-once bookkeeping, state, and schema versioning."""

from __future__ import annotations

import sqlite3

import pytest

from tui_trader import journal as j
from tui_trader import messages as m
from tui_trader.errors import JournalError


def command(i: int = 1) -> m.OrderCommand:
    return m.OrderCommand(
        id=f"cmd-{i}",
        symbol="BTCUSDT",
        side="buy",
        quantity=0.01,
        ref_price=60000.0,
        stop_loss=58200.0,
        take_profit=63600.0,
        leverage=10,
        purpose="entry",
        mode="paper",
        ts=i,
    )


def status(order_id: str, st: str = "filled", qty: float = 0.01) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=order_id,
        symbol="BTCUSDT",
        side="buy",
        purpose="entry",
        status=st,
        filled_qty=qty,
        avg_price=60000.0,
        fee=0.3,
        mode="paper",
        ts=5,
    )


def test_a_command_is_journaled_once_and_executed_once(tmp_path):
    jr = j.Journal(tmp_path / "j.sqlite3")
    assert jr.record_command(command(1)) is True
    assert jr.record_command(command(1)) is False  # re-delivery of the same id
    assert not jr.was_executed("cmd-1")
    jr.complete("cmd-1", [status("cmd-1")])
    assert jr.was_executed("cmd-1") and jr.completions() == {"cmd-1": 1}
    assert jr.commands() == [command(1)]


def test_statuses_survive_a_reopen_and_unpublished_ones_are_listed_until_marked(tmp_path):
    path = tmp_path / "j.sqlite3"
    jr = j.Journal(path)
    jr.record_command(command(1))
    seqs = jr.complete("cmd-1", [status("cmd-1", "accepted", 0.0), status("cmd-1")])
    jr.mark_published(seqs[:1])
    jr.close()  # as if the process died before publishing the fill
    again = j.Journal(path)
    pending = again.unpublished()
    assert [(seq, st.status) for seq, st in pending] == [(seqs[1], "filled")]
    again.mark_published([seqs[1]])
    assert again.unpublished() == []
    assert [s.status for s in again.statuses()] == ["accepted", "filled"]


def test_state_round_trips(tmp_path):
    jr = j.Journal(tmp_path / "j.sqlite3")
    assert jr.get_state("halted", False) is False
    jr.set_state("halted", True)
    jr.set_state("mode", "paper")
    jr.set_state("halted", False)
    jr.close()
    again = j.Journal(tmp_path / "j.sqlite3")
    assert again.get_state("halted") is False and again.get_state("mode") == "paper"


def test_journal_uses_wal_and_a_versioned_schema(tmp_path):
    jr = j.Journal(tmp_path / "j.sqlite3")
    assert jr.schema_version == j.SCHEMA_VERSION
    mode = jr._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_newer_schema_is_refused_not_damaged(tmp_path):
    path = tmp_path / "j.sqlite3"
    j.Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {j.SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="newer than this desk understands"):
        j.Journal(path)


def test_migrations_upgrade_an_old_journal_step_by_step(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite3"
    j.Journal(path).close()
    monkeypatch.setitem(j.MIGRATIONS, j.SCHEMA_VERSION + 1, "ALTER TABLE commands ADD COLUMN note TEXT")
    monkeypatch.setattr(j, "SCHEMA_VERSION", j.SCHEMA_VERSION + 1)
    jr = j.Journal(path)
    assert jr.schema_version == j.SCHEMA_VERSION
    cols = [r[1] for r in jr._db.execute("PRAGMA table_info(commands)")]
    assert "note" in cols


def test_a_failed_migration_leaves_the_journal_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite3"
    j.Journal(path).close()
    old = j.SCHEMA_VERSION
    monkeypatch.setitem(j.MIGRATIONS, old + 1, "ALTER TABLE commands ADD COLUMN x TEXT; THIS IS NOT SQL")
    monkeypatch.setattr(j, "SCHEMA_VERSION", old + 1)
    with pytest.raises(JournalError, match="cannot use the journal"):
        j.Journal(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == old
    assert "x" not in [r[1] for r in db.execute("PRAGMA table_info(commands)")]


def test_outcome_and_completions_follow_the_command(tmp_path):
    jr = j.Journal(tmp_path / "j.sqlite3")
    jr.record_command(command(1))
    seqs = jr.complete("cmd-1", [status("cmd-1", "accepted", 0.0), status("cmd-1")])
    jr.complete(None, [status("sl-1", "canceled", 0.0)])  # raised by the broker itself: no command
    assert [(seq, st.status) for seq, st in jr.outcome("cmd-1")] == [(seqs[0], "accepted"), (seqs[1], "filled")]
    assert jr.completions() == {"cmd-1": 1}
    assert jr.has_status(status("sl-1", "canceled", 0.0)) and not jr.has_status(status("sl-1", "filled"))
