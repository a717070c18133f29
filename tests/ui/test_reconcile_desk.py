"""The desk answers the executor's reconciliation question: when the executor waits (Health "reconcile"),
the desk shows the screen once per round and sends the trader's choices as a Control record."""

from __future__ import annotations

from desk_helpers import LARGE, ready, records
from kit import until

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.ui.screens.reconcile import ReconcileScreen


def waiting(round_id: str) -> m.Health:
    journal = {
        "BTCUSDT": rc.JournalPosition(
            symbol="BTCUSDT",
            side="long",
            quantity=0.01,
            entry_price=60_000.0,
            stop_loss_order_id="sl-1",
            take_profit_order_id="tp-1",
        )
    }
    positions = [
        rc.ExchangePosition(symbol="BTCUSDT", side="long", quantity=0.01, entry_price=60_000.0, mark_price=60_100.0),
        rc.ExchangePosition(symbol="ETHUSDT", side="long", quantity=0.5, entry_price=2_500.0, mark_price=2_490.0),
    ]
    diffs = rc.find_differences(journal, positions, [])
    question = m.ReconcileQuestion(round=round_id, exchange="binanceusdm", differences=diffs)
    return m.Health(component=m.RECONCILE_COMPONENT, state="waiting", question=question, ts=1)


async def test_the_desk_asks_once_per_round_and_sends_the_choices(bus, desk):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await ready(pilot)
        for _ in range(2):  # the executor repeats its question until answered: asked once
            await bus.publish(m.HEALTH, "reconcile", m.encode(waiting("r-1")))
            await app.refresh_desk()
        await until(lambda: isinstance(app.screen, ReconcileScreen), "the reconciliation screen")
        assert sum(isinstance(s, ReconcileScreen) for s in app.screen_stack) == 1
        await pilot.press("c")  # confirm the defaults
        await pilot.press("y")
        await until(lambda: not isinstance(app.screen, ReconcileScreen), "the screen to close")
        sent: list[m.Control] = []

        async def answered() -> bool:
            sent[:] = [c for c in await records(bus, m.CONTROL) if c.command == "reconcile"]
            return bool(sent)

        await until(answered, "the answer on trading-control")
        [control] = sent
        answer = control.answer
        assert answer is not None and answer.round == "r-1" and control.origin == "desk"
        assert set(answer.choices.values()) <= {"adopt", "flatten", "leave"} and len(answer.choices) == 2
