"""A paper command costs the journal two commits: its outcome with the command itself, then the published marks.
Each commit is a sync of the log (synchronous=FULL): they are most of an order's receipt → status time."""

from __future__ import annotations

from brokers.broker_helpers import command, settings_for
from test_executor import Desk


def commits_of(jr) -> list[str]:
    """Every commit on the journal's connection from now on: explicit ones, and each write outside them."""
    commits: list[str] = []
    inside = [False]

    def trace(sql: str) -> None:
        verb = sql.lstrip().split(" ", 1)[0].upper()
        if verb == "BEGIN":
            inside[0] = True
        elif verb == "COMMIT":
            inside[0] = False
            commits.append(sql)
        elif verb in ("INSERT", "UPDATE", "DELETE") and not inside[0]:
            commits.append(sql)

    jr._db.set_trace_callback(trace)
    return commits


async def test_a_paper_order_is_journaled_in_two_commits_and_never_executed_twice():
    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        jr = desk.executor.journal
        commits = commits_of(jr)
        cmd = command(quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_000)
        await desk.send(cmd)
        assert [s.status for s in desk.statuses] == ["filled", "accepted", "accepted"]
        assert len(commits) == 2, commits
        assert jr.completions() == {cmd.id: 1} and jr.unpublished() == []
        await desk.send(cmd)  # delivered again: answered from the journal, not executed again
        assert jr.completions() == {cmd.id: 1}
        assert desk.executor.summary()["redelivered"] == 1
