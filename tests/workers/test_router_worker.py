"""The router worker on the embedded bus: what it publishes for signals, fills and controls; halted survives
a restart."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from portfolio.router_helpers import T0, control, filled, signal, trade

from tui_trader import messages as m
from tui_trader.bus import EmbeddedBus
from tui_trader.clock import FixedClock
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.settings import Settings
from tui_trader.workers import WorkerContext
from tui_trader.workers.router import RouterWorker


def journal_state() -> dict:
    """The desk state as the journal holds it (what a restarted desk reads)."""
    jr = Journal.from_settings(Settings())
    try:
        return jr.get_state("desk")
    finally:
        jr.close()


class Desk:
    """A router worker on its own embedded bus, driven record by record."""

    def __init__(self, bus: EmbeddedBus, settings: Settings | None = None) -> None:
        self.bus = bus
        self.clock = FixedClock(T0)
        self.health: list[m.Health] = []
        self.ctx = WorkerContext(
            settings=settings or Settings(),
            bus=bus,
            clock=self.clock,
            on_health=self.health.append,
            shared={"instruments": RulesBook()},
        )
        self.worker = RouterWorker(self.ctx)
        self.task: asyncio.Task | None = None
        self.decoder = m.Decoder()

    async def start(self) -> Desk:
        await self.bus.create_topics(m.TOPICS)
        self.task = asyncio.create_task(self.worker.run())
        topic = self.bus.cluster.topic(m.SIGNALS)
        for _ in range(200):  # until every subscription is open (bounded)
            if topic.subs:
                break
            await asyncio.sleep(0)
        assert topic.subs, "router did not subscribe"
        await self.bus.wait_idle()
        return self

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def send(self, topic: str, msg, at: int | None = None) -> None:
        """Publish one record with the desk's clock at `at` (default: the record's own `ts`), and wait
        until the router has handled it."""
        self.clock.set(at if at is not None else msg.ts)
        await self.bus.publish(topic, getattr(msg, "symbol", "desk"), m.encode(msg))
        await asyncio.wait_for(self.bus.wait_idle(), 2)

    def records(self, topic: str) -> list:
        return [self.decoder.decode(topic, r.value) for r in self.bus.cluster.topic(topic).log]

    def orders(self) -> list[m.OrderCommand]:
        return self.records(m.ORDERS)

    def denials(self) -> list[m.OrderStatus]:
        return [
            s
            for s in self.records(m.ORDER_STATUS)
            if s.status == "rejected" and s.order_id not in {c.id for c in self.orders()}
        ]

    async def fill_all(self, at: int) -> None:
        """Answer every command not yet answered with a fill, as a broker would."""
        answered = {s.order_id for s in self.records(m.ORDER_STATUS)}
        for cmd in self.orders():
            if cmd.id not in answered:
                await self.send(m.ORDER_STATUS, filled(cmd, ts=at), at)


@pytest.fixture
async def desk():
    d = await Desk(EmbeddedBus()).start()
    yield d
    await d.stop()
    await d.bus.close()


async def test_a_signal_becomes_an_entry_command_and_a_refused_one_a_visible_denial(desk):
    await desk.send(m.SIGNALS, signal("Buy", ts=T0))  # no price seen yet
    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    await desk.send(m.SIGNALS, signal("StrongBuy", ts=T0))
    [cmd] = desk.orders()
    assert (cmd.symbol, cmd.side, cmd.quantity, cmd.stop_loss, cmd.take_profit, cmd.mode) == (
        "BTCUSDT",
        "buy",
        0.016,
        58_200.0,
        63_600.0,
        "paper",
    )
    [denial] = desk.denials()
    assert denial.error.startswith("stale_price: BTCUSDT: no market price seen yet")
    assert desk.bus.cluster.topic(m.ORDERS).log[0].key == "BTCUSDT"
    await desk.fill_all(T0 + 100)
    s = desk.worker.summary()
    assert (s["entries"], s["denied"], s["open_positions"], s["denials"]) == (1, 1, 1, {"stale_price": 1})
    assert s["fees"] == pytest.approx(0.48) and s["equity"] == pytest.approx(10_000 - 0.48)


async def test_pause_flatten_kill_rearm_publish_exactly_the_expected_commands():
    s = Settings()
    desk = await Desk(
        EmbeddedBus(), msgspec.structs.replace(s, risk=msgspec.structs.replace(s.risk, cooldown_s=0.0))
    ).start()
    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    await desk.send(m.MARKET_DATA, trade(2_500.0, T0, "ETHUSDT"))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0))
    await desk.fill_all(T0)
    await desk.send(m.CONTROL, control("pause", T0 + 1))
    await desk.send(m.SIGNALS, signal("Sell", 2_500.0, T0 + 1, symbol="ETHUSDT"))  # denied: paused
    await desk.send(m.CONTROL, control("resume", T0 + 2))
    await desk.send(m.SIGNALS, signal("Sell", 2_500.0, T0 + 2, symbol="ETHUSDT"))
    await desk.fill_all(T0 + 2)
    await desk.send(m.CONTROL, control("flatten", T0 + 3))
    await desk.fill_all(T0 + 3)
    await desk.send(m.CONTROL, control("kill", T0 + 4))  # nothing open: no command, but halted
    await desk.send(m.SIGNALS, signal("Buy", ts=T0 + 5))
    await desk.send(m.CONTROL, control("rearm", T0 + 6))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0 + 6))  # denied: still paused after the re-arm
    await desk.send(m.CONTROL, control("resume", T0 + 7))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0 + 7))
    got = [(c.symbol, c.side, c.purpose, c.reduce_only, c.ts) for c in desk.orders()]
    assert got == [
        ("BTCUSDT", "buy", "entry", False, T0),
        ("ETHUSDT", "sell", "entry", False, T0 + 2),
        ("BTCUSDT", "sell", "flatten", True, T0 + 3),
        ("ETHUSDT", "buy", "flatten", True, T0 + 3),
        ("BTCUSDT", "buy", "entry", False, T0 + 7),
    ]
    assert [d.error.split(":")[0] for d in desk.denials()] == ["paused", "halted", "paused"]
    states = [h.state for h in desk.health if h.component == "router"]
    assert states == ["trading", "paused", "trading", "halted", "paused", "trading"]
    await desk.stop()
    await desk.bus.close()


async def test_a_kill_closes_open_positions_and_the_desk_comes_back_halted_after_a_restart(desk):
    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0))
    await desk.fill_all(T0)
    await desk.send(m.CONTROL, control("kill", T0 + 1000))
    kill = desk.orders()[-1]
    assert (kill.purpose, kill.side, kill.reduce_only, kill.quantity) == ("kill", "sell", True, 0.016)
    state = journal_state()
    assert state["halted"] is True and state["halted_at"] == T0 + 1000 and state["halted_by"] == "test"
    await desk.stop()

    # A new process: a fresh bus, a fresh worker, the same journal.
    again = await Desk(EmbeddedBus()).start()
    try:
        assert again.worker.summary()["state"] == "halted"
        assert again.health[-1].state == "halted"
        await again.send(m.MARKET_DATA, trade(60_000.0, T0 + 5000), T0 + 5000)
        await again.send(m.SIGNALS, signal("Buy", ts=T0 + 5000))
        assert again.orders() == []
        assert again.denials()[0].error.startswith("halted: ")
        await again.send(m.CONTROL, control("rearm", T0 + 6000), T0 + 6000)
        assert journal_state()["halted"] is False
        await again.send(m.CONTROL, control("resume", T0 + 6000), T0 + 6000)
        await again.send(m.SIGNALS, signal("Buy", ts=T0 + 6000))
        assert [c.purpose for c in again.orders()] == ["entry"]
    finally:
        await again.stop()
        await again.bus.close()


async def test_a_damaged_desk_state_starts_halted(caplog):
    jr = Journal.from_settings(Settings())
    jr.set_state("desk", {"halted": "perhaps"})
    jr.close()
    d = await Desk(EmbeddedBus()).start()
    try:
        assert d.worker.summary()["state"] == "halted"
        assert "starting HALTED" in caplog.text
    finally:
        await d.stop()
        await d.bus.close()


async def test_a_restarted_run_keeps_the_book_and_reads_on_from_where_it_stopped(desk):
    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0))
    await desk.stop()  # as if run() crashed: the runtime calls run() again on the same worker
    [cmd] = desk.orders()
    await desk.bus.publish(m.ORDER_STATUS, cmd.symbol, m.encode(filled(cmd)))  # arrives while it is down
    desk.task = asyncio.create_task(desk.worker.run())
    for _ in range(200):
        if desk.bus.cluster.topic(m.SIGNALS).subs:
            break
        await asyncio.sleep(0)
    await asyncio.wait_for(desk.bus.wait_idle(), 2)
    assert desk.worker.summary()["open_positions"] == 1


async def test_live_equity_comes_from_the_exchange_balance(desk):
    await desk.send(m.CONTROL, control("set_mode", arg="live"))
    await desk.send(
        m.ACCOUNT, m.Account(mode="live", exchange="binanceusdm", balance_total=2_000.0, balance_free=2_000.0, ts=T0)
    )
    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0))
    assert desk.denials() == []
    [cmd] = desk.orders()
    # 2% of 2,000 = 40 USDT risk ÷ (60000 × 3%) = 0.0222 BTC → 0.022 (1,320 USDT) → capped at 1,000 → 0.016
    assert cmd.mode == "live" and cmd.quantity == 0.016
    assert desk.worker.summary()["equity"] == pytest.approx(2_000.0)


async def test_malformed_records_are_counted_and_skipped(desk):
    await desk.bus.publish(m.SIGNALS, "BTCUSDT", b"{garbage")
    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    await desk.send(m.SIGNALS, signal("Buy", ts=T0))
    assert len(desk.orders()) == 1
    assert desk.worker.counters()["malformed:trading-signals"] == 1


async def test_new_thresholds_from_the_desk_apply_to_the_next_signal(desk):
    from tui_trader.settings import replace_field

    await desk.send(m.MARKET_DATA, trade(60_000.0, T0))
    weak = signal("Buy", ts=T0)
    weak = m.TradingSignal(**{**{f: getattr(weak, f) for f in weak.__struct_fields__}, "strength": 0.7})
    desk.ctx.settings = replace_field(desk.ctx.settings, "trading", "min_signal_strength", 0.8)
    await desk.send(m.SIGNALS, weak)
    assert desk.orders() == []  # below the new threshold: not traded
    desk.ctx.settings = replace_field(desk.ctx.settings, "trading", "min_signal_strength", 0.6)
    await desk.send(m.SIGNALS, weak)
    assert [c.purpose for c in desk.orders()] == ["entry"]
