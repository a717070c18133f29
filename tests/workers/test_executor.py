"""The executor worker on the embedded bus: paper and live (mock Binance) behave the same for the router."""

from __future__ import annotations

import asyncio

import pytest
from brokers.broker_helpers import command, settings_for
from kit import Harness, until

from tui_trader import messages as m
from tui_trader.clock import ReplayClock
from tui_trader.instruments import RulesBook
from tui_trader.journal import Journal
from tui_trader.workers.executor import KILL_DROP, ExecutorWorker


class Desk(Harness):
    """An executor worker on its own embedded bus (the kit's harness, unsupervised: a crash reaches the test),
    every topic tapped; `statuses`, `accounts` and `healths` are what it published so far."""

    def __init__(self, settings) -> None:
        # Each desk its own journal: the paper and the live desk of a parity test are two desks.
        shared = {"instruments": RulesBook(), "journal": Journal(":memory:")}
        super().__init__(settings, [ExecutorWorker], clock=ReplayClock(1_000), supervised=False, shared=shared)
        self.executor: ExecutorWorker = self.workers[0]  # type: ignore[assignment]

    async def __aenter__(self) -> Desk:
        await super().__aenter__()
        for topic in (m.ORDERS, m.CONTROL, m.MARKET_DATA):
            await self.listening(topic)
        return self

    @property
    def statuses(self) -> list[m.OrderStatus]:
        return self.seen(m.ORDER_STATUS)

    @property
    def accounts(self) -> list[m.Account]:
        return self.seen(m.ACCOUNT)

    @property
    def healths(self) -> list[m.Health]:
        return self.seen(m.HEALTH)

    async def market(self, symbol: str, price: float, t: int) -> None:
        """A book top and a trade at `price`, at event time t (ms), stepped like the replay does."""
        self.clock.advance_to(t)
        for md in (
            m.MarketData(
                symbol=symbol, kind="book", bid=price, ask=price, bid_qty=1, ask_qty=1, event_time=t, recv_time=t, ts=t
            ),
            m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.1, event_time=t, recv_time=t, ts=t),
        ):
            await self.publish(m.MARKET_DATA, md)
            await self.settle()

    async def send(self, cmd: m.OrderCommand) -> None:
        await self.publish(m.ORDERS, cmd)
        await self.settle()

    async def control(self, command: str, ts: int, arg: str | None = None) -> None:
        await self.publish(m.CONTROL, m.Control(command=command, arg=arg, ts=ts), key="desk")
        await self.settle()

    def modes(self) -> list[tuple[str, str]]:
        """(acting mode, refusal) of every mode Health so far."""
        return [(h.state, h.detail) for h in self.healths if h.component == m.MODE_COMPONENT]


def kinds(statuses) -> list[tuple[str, str, str]]:
    return [(s.symbol, s.purpose, s.status) for s in statuses]


async def test_paper_entry_protection_and_target_with_account_records():
    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        assert [a.balance_total for a in desk.accounts] == [10_000.0]  # the first market data: the starting account
        cmd = command(quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_000)
        await desk.send(cmd)
        assert kinds(desk.statuses) == [
            ("BTCUSDT", "entry", "filled"),
            ("BTCUSDT", "stop_loss", "accepted"),
            ("BTCUSDT", "take_profit", "accepted"),
        ]
        assert all(s.mode == "paper" and s.ts == 1_000 for s in desk.statuses)
        assert desk.accounts[-1].positions[0].quantity == 0.01  # published after the fill
        await desk.market("BTCUSDT", 62_000.0, 1_500)  # moves within the price band: good trades
        await desk.market("BTCUSDT", 63_700.0, 2_000)
        assert kinds(desk.statuses[3:]) == [("BTCUSDT", "take_profit", "filled"), ("BTCUSDT", "stop_loss", "canceled")]
        assert desk.statuses[3].avg_price == 63_600.0 and desk.statuses[3].ts == 2_000
        assert desk.accounts[-1].positions == []
        summary = desk.executor.summary()
        assert summary["fills"] == 2 and summary["fees"] == pytest.approx(0.3 + 0.318)
        assert summary["final_balance"] == pytest.approx(10_000 + 36.0 - 0.3 - 0.318)


async def test_paper_account_is_published_every_poll_interval_of_clock_time():
    async with Desk(settings_for(account_poll_s=60.0)) as desk:
        for t in (0, 30_000, 59_999, 60_000, 100_000, 121_000):
            await desk.market("BTCUSDT", 60_000.0, 1_000 + t)
        assert [a.ts - 1_000 for a in desk.accounts] == [0, 60_000, 121_000]


async def test_kill_drops_entries_created_before_it_and_keeps_executing_closes():
    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        await desk.send(command(quantity=0.01, ts=900))
        await desk.control("kill", 1_500)
        late = command(quantity=0.01, ts=1_400)  # created before the kill, arriving after it
        await desk.send(late)
        close = command(side="sell", quantity=0.01, purpose="kill", ts=1_500)
        await desk.send(close)
        after = command(quantity=0.01, ts=2_000)  # after a re-arm: trades again
        await desk.send(after)
        by_id = {s.order_id: s for s in desk.statuses}
        assert by_id[late.id].status == "rejected" and by_id[late.id].error == KILL_DROP
        assert by_id[close.id].status == "filled" and by_id[after.id].status == "filled"
        assert desk.executor.summary()["rejects"] == {"kill": 1}


async def test_live_without_api_keys_is_refused_with_the_reason_and_paper_keeps_acting():
    async with Desk(settings_for()) as desk:
        assert desk.modes() == [("paper", "")]  # announced at start
        await desk.control("set_mode", 5, arg="live")
        await until(lambda: len(desk.modes()) == 2, "the answer to the switch")
        state, why = desk.modes()[1]
        assert state == "paper" and why.startswith("no_keys:") and "TUI_TRADER_API_KEY" in why
        assert desk.accounts[-1].mode == "paper" and desk.accounts[-1].acting
        cmd = command(mode="live")  # a live entry the executor never acknowledged
        await desk.send(cmd)
        await until(lambda: desk.statuses, "the rejection")
        [status] = desk.statuses
        assert (
            status.status == "rejected"
            and status.mode == "live"
            and status.error.startswith("mode: the executor acts paper")
        )


async def test_kill_drops_queued_live_entries(api_keys, mock_binance):
    mock_binance.fail("POST", "/fapi/v1/order", "timeout")  # the first entry holds the live queue for a while
    async with Desk(settings_for(mock_binance.base_url, paper=False)) as desk:
        await desk.market("BTCUSDT", 60_000.0, 5)
        await desk.market("ETHUSDT", 2_500.0, 5)
        first = command(mode="live", ts=10, stop_loss=58_000.0, take_profit=62_000.0)
        queued = command(mode="live", ts=20, symbol="ETHUSDT", ref_price=2_500.0)
        await desk.send(first)
        await until(lambda: mock_binance.calls("POST", "/fapi/v1/order"), "the first entry to be sent")
        await desk.send(queued)
        await until(lambda: len(desk.executor.queue) == 1, "the second entry to queue")
        await desk.control("kill", 30)
        await until(lambda: any(s.order_id == first.id for s in desk.statuses), "the first entry's outcome")
        dropped = next(s for s in desk.statuses if s.order_id == queued.id)
        assert dropped.status == "rejected" and dropped.error == KILL_DROP
        assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1  # the dropped entry never left


# One command stream, run through the paper broker and through the ccxt broker against the mock exchange.
def scenario():
    # Commands carry the price they were planned at (a live entry needs it within the band of the last trade).
    return [
        ("price", 60_000.0),
        ("cmd", command(mode="live", quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0)),
        ("price", 62_000.0),
        ("price", 63_700.0),  # the target fills, the stop is canceled
        (
            "cmd",
            command(
                mode="live", side="sell", quantity=0.02, stop_loss=65_000.0, take_profit=62_000.0, ref_price=63_700.0
            ),
        ),
        (
            "cmd",
            command(mode="live", side="buy", quantity=0.05, purpose="close", ref_price=63_700.0),
        ),  # capped to the 0.02 held
        ("cmd", command(mode="live", side="buy", quantity=0.02, purpose="flatten", ref_price=63_700.0)),  # nothing left
        (
            "cmd",
            command(mode="live", quantity=5.0, stop_loss=60_000.0, take_profit=70_000.0, ref_price=63_700.0),
        ),  # margin
        # The target is below the price: it cannot be placed.
        ("cmd", command(mode="live", quantity=0.01, stop_loss=62_000.0, take_profit=63_000.0, ref_price=63_700.0)),
        ("cmd", command(mode="live", quantity=0.01, stop_loss=62_000.0, take_profit=66_000.0, ref_price=63_700.0)),
        ("price", 61_500.0),  # the stop fills, the target is canceled
    ]


def as_mode(cmd: m.OrderCommand, mode: m.Mode) -> m.OrderCommand:
    import msgspec

    return msgspec.structs.replace(cmd, mode=mode)


async def test_paper_and_live_give_the_same_sequence_of_statuses(api_keys, mock_binance):
    steps = scenario()
    t = 1_000
    async with Desk(settings_for()) as paper:
        marks = []
        for kind, arg in steps:
            t += 1_000
            if kind == "price":
                await paper.market("BTCUSDT", arg, t)
            else:
                await paper.send(as_mode(arg, "paper"))
            marks.append(len(paper.statuses))
        paper_kinds = [(s.purpose, s.status) for s in paper.statuses]

    async with Desk(settings_for(mock_binance.base_url, paper=False)) as live:
        t = 1_000
        for (kind, arg), mark in zip(steps, marks, strict=False):
            t += 1_000
            if kind == "price":
                mock_binance.set_price("BTCUSDT", arg)
                await live.market("BTCUSDT", arg, t)  # the executor's own view of the price (freshness, band)
            else:
                await live.send(arg)
            await until(lambda: len(live.statuses) >= mark, f"the statuses after step {kind} {arg!s:.60}")  # noqa: B023 - awaited here
        live_kinds = [(s.purpose, s.status) for s in live.statuses]

    assert live_kinds == paper_kinds
    assert paper_kinds == [
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
        ("take_profit", "filled"),
        ("stop_loss", "canceled"),
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
        ("stop_loss", "canceled"),
        ("take_profit", "canceled"),
        ("close", "filled"),
        ("flatten", "rejected"),
        ("entry", "rejected"),
        ("entry", "filled"),
        ("take_profit", "rejected"),
        ("stop_loss", "canceled"),
        ("close", "filled"),
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
        ("stop_loss", "filled"),
        ("take_profit", "canceled"),
    ]
    paper_rejects = [s.error.split(":")[0] for s in paper.statuses if s.status == "rejected"]
    live_rejects = [s.error.split(":")[0] for s in live.statuses if s.status == "rejected"]
    assert paper_rejects == live_rejects == ["no position to reduce", "insufficient_margin", "protection_failed"]


async def test_a_restarted_executor_reads_on_after_the_last_record_it_handled():
    settings = settings_for()
    desk = Desk(settings)
    desk.ctx.replay_files = ["a-replay"]  # a replay reads from the beginning: a restart must not start over
    async with desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        first = command(quantity=0.01)
        await desk.send(first)
        run = desk.tasks[-1]
        run.cancel()  # what the runtime sees as a crash: it calls run() again on the same worker
        await asyncio.gather(run, return_exceptions=True)
        desk.tasks[-1] = asyncio.create_task(desk.executor.run())
        await desk.listening(m.ORDERS)
        second = command(side="sell", quantity=0.01, purpose="close")
        await desk.send(second)
        assert [(s.order_id, s.status) for s in desk.statuses] == [(first.id, "filled"), (second.id, "filled")]


async def test_paper_symbols_outside_the_built_in_table_get_their_rules_from_the_exchange(mock_binance):
    import msgspec

    settings = settings_for(mock_binance.base_url)
    settings = msgspec.structs.replace(
        settings, trading=msgspec.structs.replace(settings.trading, symbols=["BTCUSDT", "SOLUSDT"])
    )
    async with Desk(settings) as desk:
        await until(lambda: "SOLUSDT" in desk.executor.rules, "the SOLUSDT rules")
        assert desk.executor.rules.get("SOLUSDT").step == 1.0 and desk.ctx.shared["instruments"] is desk.executor.rules
        assert mock_binance.sequence() == ["GET /fapi/v1/exchangeInfo"]  # public markets only, no keys
        await desk.market("SOLUSDT", 150.0, 2_000)
        await desk.send(command(symbol="SOLUSDT", quantity=2.5, ref_price=150.0))
        assert desk.statuses[0].status == "filled" and desk.statuses[0].filled_qty == 2.0
