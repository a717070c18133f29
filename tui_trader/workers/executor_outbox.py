"""The executor's outbox: every order outcome journaled, then published, then marked published — once.

A crash between journaling and publishing publishes the outcome once after the restart, never twice. A command
seen again (delivered again after a restart, or a replay run again after a crash) is answered from the journal
instead of being executed a second time. Counts what went out, for the summary.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable

from tui_trader import messages as m
from tui_trader.brokers.base import Report
from tui_trader.brokers.paper import PaperBroker
from tui_trader.journal import Journal

PublishStatus = Callable[[m.OrderStatus], Awaitable[None]]


class Outbox:
    def __init__(
        self,
        journal: Journal,
        publish: PublishStatus,
        now_ms: Callable[[], int],
        *,
        replay: Callable[[], bool],
        log: logging.Logger,
    ) -> None:
        self.journal = journal
        self._publish = publish
        self._now_ms = now_ms
        self._replay = replay
        self.log = log
        self.statuses: collections.Counter[str] = collections.Counter()
        self.rejects: collections.Counter[str] = collections.Counter()
        self.fills: collections.Counter[str] = collections.Counter()
        self.fees: dict[str, float] = {"paper": 0.0, "live": 0.0}
        self.redelivered = 0  # commands seen again that the journal says were executed already

    async def recover(self, paper: PaperBroker, sent: set[str]) -> None:
        """Before anything else: what the journal says happened. Live (not a replay): statuses journaled but
        not published before a crash go out now, once; the paper account is rebuilt from the journaled fills;
        every journaled command id counts as sent. A replay rebuilds by replaying instead: its commands come
        round again with the same ids and `already_executed` answers them from the journal."""
        jr = self.journal
        if self._replay():
            return
        sent.update(c.id for c in jr.commands())
        restored = paper.restore(jr.commands(), jr.statuses(), jr.funding())
        if restored:
            self.log.info("paper account from the journal: %s", restored)
        pending = jr.unpublished()
        for seq, st in pending:
            await self._publish(st)
            jr.mark_published([seq])
        if pending:
            self.log.warning("published %d statuses journaled before a stop but not sent then", len(pending))

    async def already_executed(self, cmd: m.OrderCommand, mode: m.Mode, paper: PaperBroker) -> bool:
        """Journal a live command before executing it (a paper one is journaled with its outcome); if the
        journal says it was executed already, publish its journaled outcome instead.

        A command journaled but never completed (the process died while executing it) is not repeated live:
        its id counts as sent, so the broker refuses to place it again; reconciliation at start finds any
        position it may have opened."""
        jr = self.journal
        # A paper command is journaled with its outcome (`publish`), in one transaction: executing it twice
        # after a crash in between costs nothing outside this process (its account is rebuilt from the
        # journal), and each command then costs one sync of the journal's log less. A live one first.
        new = jr.record_command(cmd) if mode == "live" else False
        if new or not jr.was_executed(cmd.id):
            return False
        self.redelivered += 1
        outcome = jr.outcome(cmd.id)
        if mode == "paper" and self._replay():
            # The paper account is rebuilt by running the command again through the simulation (it is
            # deterministic); what goes out is what the journal holds.
            again = [r.to_status("paper", 0) for r in await paper.execute(cmd)]
            if [(s.order_id, s.status, s.filled_qty) for s in again] != [
                (s.order_id, s.status, s.filled_qty) for _, s in outcome
            ]:
                self.log.error(
                    "replayed command %s gave a different outcome than the journal; the journal's is used", cmd.id
                )
        for seq, st in outcome:
            is_fill = st.filled_qty > 0 and st.status in ("filled", "partially_filled")
            self._count(st.status, st.error, is_fill, st.fee, mode)
            await self._publish(st)
            jr.mark_published([seq])
        return True

    async def publish(
        self, reports: list[Report], mode: m.Mode, cmd: m.OrderCommand | None = None, *, executed: bool = False
    ) -> None:
        """Journal the outcome (durably, with the command marked executed), then publish it, then mark it
        published. `executed`: `cmd` is a paper command just executed, journaled here with its outcome (see
        `already_executed`)."""
        now = self._now_ms()
        statuses = [report.to_status(mode, now) for report in reports]
        if cmd is None:
            # Statuses the broker raised by itself (a trigger, a poll): a replay run again after a crash
            # raises the same ones, already journaled.
            fresh = [st for st in statuses if not self.journal.has_status(st)]
            seqs = self.journal.complete(None, fresh) if fresh else []
        else:
            seqs = self.journal.complete(cmd.id, statuses, cmd if executed else None)
        for report, status in zip(reports, statuses, strict=True):
            self._count(report.status, report.error, report.is_fill, report.fee, mode)
            await self._publish(status)
        self.journal.mark_published(seqs)

    def _count(self, status: str, error: str | None, is_fill: bool, fee: float, mode: m.Mode) -> None:
        self.statuses[status] += 1
        if status == "rejected":
            self.rejects[(error or "rejected").split(":", 1)[0]] += 1
        if is_fill:
            self.fills[mode] += 1
            self.fees[mode] += fee
