"""A small real journal (commands, statuses, positions, equity, desk state) to damage in the hostile tests."""

from __future__ import annotations

from pathlib import Path

from tui_trader import journal as j
from tui_trader import messages as m


def command(i: int) -> m.OrderCommand:
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


def status(i: int) -> m.OrderStatus:
    return m.OrderStatus(
        order_id=f"cmd-{i}",
        symbol="BTCUSDT",
        side="buy",
        purpose="entry",
        status="filled",
        filled_qty=0.01,
        avg_price=60000.0 + i,
        fee=0.3,
        mode="paper",
        ts=i,
    )


def make_journal(path: Path, commands: int = 300) -> bytes:
    """Write a journal with `commands` executed commands, checkpoint it into the main file, return its bytes."""
    jr = j.Journal(path)
    for i in range(commands):
        jr.record_command(command(i))
        jr.complete(f"cmd-{i}", [status(i)])
    jr.record_funding(5, "paper", "BTCUSDT", -0.3)
    jr.set_state("desk", {"halted": False})
    jr._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    jr.close()
    return path.read_bytes()


def read_everything(jr: j.Journal) -> None:
    """Every read the desk does at start (executor recovery, router book, desk state)."""
    jr.commands()
    jr.statuses()
    jr.unpublished()
    jr.completions()
    jr.funding()
    jr.get_state("desk")
    jr.outcome("cmd-1")
