"""The executor's reconciliation at a live start: survey, ask (or apply the policy), apply.

Before the ccxt broker executes anything, the journal's live positions are compared with the exchange's
positions and open conditional orders (`tui_trader.reconcile`, carried out by `workers/reconciler.py`). With no
one to ask (`interactive()` false) the settings' policy decides. With a desk attached the differences go out as
Health (component "reconcile", state "waiting", the `ReconcileQuestion` in `question`, published again every
`REASK_S` for a desk attaching late) and nothing trades live until a `Control(command="reconcile")` answers that
round (`answer`). A kill meanwhile answers "flatten" for everything that can be flattened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.brokers.reconciling import ReconcilingBroker
from tui_trader.journal import Journal
from tui_trader.settings import Settings

if TYPE_CHECKING:
    from tui_trader.workers.reconciler import Reconciler

REASK_S = 5.0  # while the desk has not answered, the question is published again this often


class ReconcileExchange:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        *,
        interactive: Callable[[], bool],
        health: Callable[..., Awaitable[None]],
        publish: Callable[[m.OrderStatus], Awaitable[None]],
        new_id: Callable[[], str],
        now_ms: Callable[[], int],
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.interactive = interactive
        self.health = health
        self.publish = publish
        self.new_id = new_id
        self.now_ms = now_ms
        self.log = log
        self.left: set[str] = set()  # differences the trader (or the policy) chose to leave alone
        self.reconciled: list[str] = []  # what the last reconciliation did, one line per difference
        # The question the desk has not answered yet: (the question, the answer to come).
        self.question: tuple[m.ReconcileQuestion, asyncio.Future[dict[str, rc.Action]]] | None = None

    def reconciler(self, broker: ReconcilingBroker) -> Reconciler:
        from tui_trader.workers.reconciler import Reconciler  # the ccxt side loads only when live is used

        return Reconciler(
            self.settings, self.journal, broker, now_ms=self.now_ms, new_id=self.new_id, publish=self.publish
        )

    async def run(self, broker: ReconcilingBroker) -> None:
        """Survey, decide (ask the desk or apply the policy), apply; the broker then watches what agrees."""
        name = self.settings.exchange.name
        rec = self.reconciler(broker)
        await self.health(m.RECONCILE_COMPONENT, "checking", f"journal against {name}")
        survey = await rec.survey()
        rec.watch_in_sync(survey)
        diffs = survey.differences
        if not diffs:
            self.reconciled = []
            held = len(survey.in_sync)
            await self.health(
                m.RECONCILE_COMPONENT, "done", f"in sync with {name}: {held} open position{'s' * (held != 1)}"
            )
            return
        for d in diffs:
            self.log.warning("reconcile: %s %s: %s", d.symbol, d.kind.replace("_", " "), rc.describe(d))
        if self.interactive():
            choices = await self._ask(name, diffs)
        else:
            choices = rc.default_choices(diffs)
            p = rec.policy
            self.log.warning("reconcile: no desk to ask; policy untracked=%s, tracked=%s", p.untracked, p.tracked)
        self.left = {d.id for d in diffs if choices.get(d.id, "leave") == "leave"}
        await self.health(m.RECONCILE_COMPONENT, "applying", f"{len(diffs)} difference{'s' * (len(diffs) != 1)}")
        self.reconciled = await rec.apply(survey, choices)
        await self.health(m.RECONCILE_COMPONENT, "done", "\n".join(self.reconciled))

    async def _ask(self, exchange: str, diffs: list[rc.Difference]) -> dict[str, rc.Action]:
        """Ask the desk and wait for its answer (no time limit: nothing trades until it comes)."""
        question = m.ReconcileQuestion(round=self.new_id(), exchange=exchange, differences=diffs)
        answer: asyncio.Future[dict[str, rc.Action]] = asyncio.get_running_loop().create_future()
        self.question = (question, answer)
        self.log.warning("reconcile: live trading waits for the desk to answer about %d difference(s)", len(diffs))
        summary = f"{len(diffs)} difference{'s' * (len(diffs) != 1)} with {exchange}: the desk decides"
        try:
            while not answer.done():
                await self.health(m.RECONCILE_COMPONENT, "waiting", summary, question=question)
                try:
                    await asyncio.wait_for(asyncio.shield(answer), REASK_S)
                except TimeoutError:
                    continue
            return answer.result()
        finally:
            self.question = None

    def answered(self, ctl: m.Control) -> None:
        """A desk's answer: applied when it answers the open question's round."""
        answer = ctl.answer
        open_question = self.question
        if answer is None:
            self.log.warning("reconcile: a reconcile control from %s without an answer ignored", ctl.origin)
            return
        if open_question is None or open_question[0].round != answer.round or open_question[1].done():
            self.log.info("reconcile: answer to round %s ignored (not the open question)", answer.round)
            return
        choices, problems = rc.choices_from_answer(open_question[0].differences, answer.choices)
        for problem in problems:
            self.log.warning("reconcile: %s", problem)
        open_question[1].set_result(choices)

    def killed(self) -> None:
        """The kill switch while the desk is asked: flatten what differs (what cannot be flattened: its default)."""
        if self.question is not None and not self.question[1].done():
            self.log.warning("kill switch while the reconciliation waits for the desk: flattening what differs")
            self.question[1].set_result(rc.kill_choices(self.question[0].differences))
