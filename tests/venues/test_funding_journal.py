"""Paper funding reaches the journal on its own, apart from fees, and the results charge it to the trip open at
the funding time: trip PnL − fees − funding equals the account's change to the cent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "brokers"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workers"))
from broker_helpers import command, settings_for
from test_executor import Desk

from tui_trader import messages as m
from tui_trader.results import history

RATE = 0.0001
FUNDING_AT = 5_000


def mark(t: int, price: float) -> m.MarketData:
    return m.MarketData(
        symbol="BTCUSDT",
        kind="mark",
        price=price,
        mark_price=price,
        index_price=price,
        funding_rate=RATE,
        next_funding_time=FUNDING_AT,
        event_time=t,
        recv_time=t,
        ts=t,
    )


@pytest.mark.parametrize("side,received", [("buy", -0.06), ("sell", 0.06)])
async def test_paper_funding_is_journaled_and_charged_to_the_trip(side, received):
    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        await desk.send(command(side=side, quantity=0.01, ts=1_000))
        await desk.bus.publish(m.MARKET_DATA, "BTCUSDT", m.encode(mark(2_000, 60_000.0)))
        await desk.bus.wait_idle()
        await desk.market("BTCUSDT", 60_000.0, 6_000)  # past the funding time: settled at the mark
        await desk.send(command(side=m.opposite(side), quantity=0.01, purpose="close", ts=7_000))
        journal = desk.ctx.shared["journal"]
        # A long pays a positive rate, a short receives it: quantity × mark × rate = 0.01 × 60 000 × 0.0001.
        [(ts, mode, symbol, amount)] = journal.funding()
        assert (ts, mode, symbol) == (FUNDING_AT, "paper", "BTCUSDT") and amount == pytest.approx(received)
        assert all(st.fee >= 0 for st in journal.statuses())
        [trip] = history.trips_of(journal.statuses(), "paper", journal.funding()).closed
        assert trip.funding == pytest.approx(-received)
        assert trip.net == pytest.approx(trip.pnl - trip.fees - trip.funding)
        final = desk.executor.summary()["final_balance"]
        assert round(trip.pnl - trip.fees - trip.funding, 2) == round(final - 10_000.0, 2)
        assert trip.fees == pytest.approx(desk.executor.summary()["fees"])  # funding is not folded into fees


async def test_a_restarted_paper_account_keeps_the_funding_it_paid():
    from tui_trader.brokers.paper import PaperBroker

    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        await desk.send(command(quantity=0.01, ts=1_000))
        await desk.bus.publish(m.MARKET_DATA, "BTCUSDT", m.encode(mark(2_000, 60_000.0)))
        await desk.bus.wait_idle()
        await desk.market("BTCUSDT", 60_000.0, 6_000)
        before = desk.executor.paper.wallet
        journal = desk.ctx.shared["journal"]
        again = PaperBroker(desk.ctx.settings.paper)
        again.restore(journal.commands(), journal.statuses(), journal.funding())
        assert again.wallet == pytest.approx(before) and again.funding_paid == pytest.approx(-0.06)
