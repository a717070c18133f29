"""The reconciler and the watchdog need of a broker only what `ReconcilingBroker` declares: a broker that offers
exactly that (no ccxt requests object, no private fields, no venue) is enough for them to find a position the
venue closed and book it closed, and a venue that cannot be read is reported with the broker's own reason."""

from __future__ import annotations

import pytest

from tui_trader import messages as m
from tui_trader import reconcile as rc
from tui_trader.brokers.base import AccountView, Report
from tui_trader.brokers.reconciling import VenueState
from tui_trader.errors import BrokerError
from tui_trader.journal import Journal
from tui_trader.settings import Settings
from tui_trader.workers.reconciler import Reconciler
from tui_trader.workers.watchdog import Watchdog


class DeclaredOnly:
    """A broker with the members of ReconcilingBroker and nothing else; the venue holds no position."""

    def __init__(self, readable: bool = True) -> None:
        self.settling: set[str] = set()
        self.unknown: dict[str, tuple[m.OrderCommand, str]] = {}
        self.readable = readable
        self.looked_up: list[str] = []

    can_protect_alone = True
    sees_protection = True

    def watched_symbols(self) -> set[str]:
        return {"BTCUSDT"}

    def quantity_tolerance(self, symbol: str) -> float:
        return 0.0005

    def tick(self, symbol: str) -> float | None:
        return 0.1

    async def venue_state(self) -> VenueState:
        return VenueState(view=AccountView(balance_total=1.0, balance_free=1.0), positions=[], orders=[])

    async def exchange_view(self, symbols: set[str]) -> tuple[list[m.ExchangePosition], list[m.ExchangeOrder]]:
        if not self.readable:
            raise BrokerError("cannot read positions and open orders to reconcile: venue down (HTTP 503)")
        return [], []

    def track(self, *args: object) -> None:
        raise AssertionError("nothing agrees, nothing to track")

    async def protect_existing(self, *args: object) -> tuple[Report, list[Report]]:
        raise AssertionError("a position that is gone is not protected")

    async def cancel_order(self, symbol: str, order_id: str) -> str | None:
        return None

    async def protective_outcome(self, symbol: str, *args: object) -> list[Report]:
        self.looked_up.append(symbol)
        return []  # neither its stop-loss nor its take-profit filled

    async def reduce(self, cmd: m.OrderCommand) -> list[Report]:
        raise AssertionError("nothing to close")


def journal_holding_btc(path: str) -> Journal:
    jr = Journal(path)
    cmd = m.OrderCommand(
        id="entry-1",
        symbol="BTCUSDT",
        side="buy",
        quantity=0.01,
        ref_price=60_000.0,
        stop_loss=58_000.0,
        take_profit=63_000.0,
        leverage=10,
        purpose="entry",
        mode="live",
        ts=1,
    )
    jr.record_command(cmd)
    fill = m.OrderStatus(
        order_id="entry-1",
        symbol="BTCUSDT",
        side="buy",
        purpose="entry",
        status="filled",
        filled_qty=0.01,
        avg_price=60_000.0,
        stop_loss_order_id="sl-1",
        take_profit_order_id="tp-1",
        mode="live",
        ts=2,
    )
    jr.complete("entry-1", [fill])
    return jr


async def test_the_watchdog_books_a_position_the_venue_closed_through_the_declared_interface(tmp_path):
    settings = Settings()
    journal = journal_holding_btc(str(tmp_path / "j.sqlite3"))
    broker = DeclaredOnly()
    published: list[m.OrderStatus] = []
    alarms: list[tuple[str, str]] = []

    async def publish(st: m.OrderStatus) -> None:
        published.append(st)

    async def health(component: str, state: str, detail: str = "", **extra: object) -> None:
        alarms.append((component, state))

    rec = Reconciler(settings, journal, broker, now_ms=lambda: 10, new_id=lambda: "close-1", publish=publish)
    dog = Watchdog(settings, journal, broker, rec, now_ms=lambda: 10, publish=publish, health=health)
    state = await broker.venue_state()
    assert await dog.check(state.positions, state.orders) is True  # seen missing once: it may be a stop firing
    await dog.check(state.positions, state.orders)
    assert broker.looked_up == ["BTCUSDT"]
    assert [(s.order_id, s.purpose, s.status) for s in published] == [
        ("sl-1", "stop_loss", "canceled"),
        ("tp-1", "take_profit", "canceled"),
        ("close-1", "close", "filled"),
    ]
    assert rc.journal_positions(journal.commands(), journal.statuses()) == {}
    assert alarms[-1] == (m.WATCHDOG_COMPONENT, "alarm")  # what the venue did is shown
    journal.close()


async def test_an_unreadable_venue_stops_the_survey_with_the_brokers_reason(tmp_path):
    journal = journal_holding_btc(str(tmp_path / "j.sqlite3"))
    rec = Reconciler(Settings(), journal, DeclaredOnly(readable=False), now_ms=lambda: 1, new_id=m.new_id, publish=None)  # type: ignore[arg-type]
    with pytest.raises(BrokerError, match=r"venue down \(HTTP 503\)"):
        await rec.survey()
    journal.close()
