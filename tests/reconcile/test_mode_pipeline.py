"""One truth for the mode, router and executor together on one bus (the real workers, the mock Binance venue):
a desk's set_mode is only a request, so no command is tagged live before the executor acts live, and a
paper book still published afterwards never flips the router back."""

from __future__ import annotations

import asyncio

import msgspec
from reckit import Desk, live_settings, set_keys, until

from tui_trader import messages as m
from tui_trader.bus.base import Start

IND = m.Indicators(
    rsi=25.0,
    macd=1.0,
    macd_signal=0.5,
    macd_hist=0.5,
    bb_upper=61_000.0,
    bb_middle=60_000.0,
    bb_lower=59_000.0,
    sma_fast=60_100.0,
    sma_slow=60_000.0,
    ema_fast=60_050.0,
    ema_slow=60_000.0,
)


async def signal(desk: Desk, symbol: str, price: float) -> None:
    now = desk.ctx.clock.now_ms()
    trade = m.MarketData(symbol=symbol, kind="trade", price=price, volume=0.1, event_time=now, recv_time=now, ts=now)
    await desk.bus.publish(m.MARKET_DATA, symbol, m.encode(trade))
    await until(lambda: symbol in desk.worker._last_trade, "the price to reach the executor")
    sig = m.TradingSignal(
        id=m.new_id(),
        symbol=symbol,
        signal="StrongBuy",
        strength=0.9,
        buy_score=5,
        sell_score=0,
        reasons=["rsi<30:+2"],
        indicators=IND,
        price=price,
        ts=now,
    )
    await desk.bus.publish(m.SIGNALS, symbol, m.encode(sig))


async def test_no_command_is_tagged_live_before_the_executor_acts_live(mock, tmp_path, monkeypatch):
    set_keys(monkeypatch)
    settings = live_settings(mock.base_url, tmp_path / "journal.sqlite3", account_poll_s=0.2)
    settings = msgspec.structs.replace(settings, trading=msgspec.structs.replace(settings.trading, paper_trading=True))
    async with Desk(settings, router=True) as desk:
        commands: list[m.OrderCommand] = []
        sub = await desk.bus.subscribe(m.ORDERS, Start.BEGINNING, tracked=False)

        async def tap():
            dec = m.decoder_for(m.OrderCommand)
            async for rec in sub:
                commands.append(dec.decode(rec.value))  # noqa: PERF401 - seen one by one while the test runs

        tapper = asyncio.create_task(tap())
        try:
            await until(lambda: any(h.component == m.MODE_COMPONENT for h in desk.health), "the mode at start")
            mock.fail(
                "GET", "/fapi/v1/exchangeInfo", "http", status=503, body={"code": -1001, "msg": "busy"}
            )  # a slow start
            await desk.bus.publish(
                m.CONTROL, "desk", m.encode(m.Control(command="set_mode", arg="live", ts=desk.ctx.clock.now_ms()))
            )
            await signal(desk, "BTCUSDT", 60_000.0)  # while the switch is under way: still paper
            await until(lambda: commands, "the first entry")
            await until(
                lambda: ("live", "") in [(h.state, h.detail) for h in desk.health if h.component == m.MODE_COMPONENT],
                "the executor to act live",
            )
            acked = len(commands)
            await until(lambda: desk.router.core.mode == "live", "the router to follow the acting account")
            await signal(desk, "ETHUSDT", 2_500.0)
            await until(lambda: len(commands) > acked, "the entry after the switch")
            await until(
                lambda: any(s.order_id == commands[-1].id and s.status == "filled" for s in desk.statuses), "its fill"
            )
        finally:
            tapper.cancel()
        assert [c.mode for c in commands] == ["paper", "live"]
        assert mock.positions == {"ETHUSDT": mock.positions["ETHUSDT"]} and "BTCUSDT" in desk.worker.paper.positions
        assert desk.router.core.mode == "live"  # the paper book's accounts (acting=False) never flipped it back
