"""What the executor refuses before any broker sees a command, and how it answers a command that breaks.

- only `trading.symbols` trade (a replay of an ETH capture with symbols = ["BTCUSDT"] opened six ETH positions);
- a live entry needs a fresh last trade (risk.stale_after_s on the executor's clock) and a reference price
  within risk.price_band_pct of it;
- a command whose handling raises is answered with an `error` status, never skipped silently;
- the live queue is bounded: entries are refused when it is full, closes always queue.
"""

from __future__ import annotations

import msgspec
from brokers.broker_helpers import command, settings_for
from test_executor import Desk, until

from tui_trader.workers import executor_queue


def only(settings, symbols):
    return msgspec.structs.replace(settings, trading=msgspec.structs.replace(settings.trading, symbols=symbols))


async def test_entries_for_symbols_outside_trading_symbols_are_refused_and_counted_closes_still_run():
    async with Desk(only(settings_for(), ["BTCUSDT"])) as desk:
        await desk.market("ETHUSDT", 2_500.0, 1_000)
        eth = command(symbol="ETHUSDT", quantity=0.5, ref_price=2_500.0)
        await desk.send(eth)
        close = command(symbol="ETHUSDT", side="sell", quantity=0.5, purpose="close", ref_price=2_500.0)
        await desk.send(close)
        [refused, closed] = desk.statuses
        assert refused.order_id == eth.id and refused.status == "rejected"
        assert refused.error.startswith("symbol_not_traded: ETHUSDT is not in trading.symbols")
        assert closed.order_id == close.id and closed.error == "no position to reduce"  # reached the broker
        assert desk.executor.paper.positions == {}
        assert desk.executor.summary()["rejects"]["symbol_not_traded"] == 1


async def test_a_live_entry_on_a_stale_or_out_of_band_price_never_reaches_the_exchange(api_keys, mock_binance):
    async with Desk(settings_for(mock_binance.base_url, paper=False)) as desk:
        await until(lambda: desk.modes() == [("live", "")], "live to start")
        # Live commands run on their own task: each outcome is awaited before the market moves on.
        never = command(mode="live", ts=1_000)
        await desk.send(never)  # no trade seen yet
        await until(lambda: len(desk.statuses) == 1, "the first refusal")
        await desk.market("BTCUSDT", 60_000.0, 2_000)
        await desk.market("ETHUSDT", 2_500.0, 8_000)  # the clock moves on; BTC's last trade is 6 s old
        stale = command(mode="live", ts=8_000)
        await desk.send(stale)
        await until(lambda: len(desk.statuses) == 2, "the second refusal")
        await desk.market("BTCUSDT", 60_000.0, 8_100)
        wide = command(mode="live", ts=8_100, ref_price=64_000.0)  # 6.7 % from the last trade (band 5 %)
        await desk.send(wide)
        await until(lambda: len(desk.statuses) == 3, "three refusals")
        errors = {s.order_id: s.error for s in desk.statuses}
        assert errors[never.id].startswith("stale_price: no trade of BTCUSDT")
        assert errors[stale.id].startswith("stale_price: the last BTCUSDT trade is 6.0 s old (limit 5 s)")
        assert errors[wide.id].startswith(
            "price_band: reference price 64000 is more than 5.00% away from the last trade 60000"
        )
        fresh = command(mode="live", ts=8_100, ref_price=60_010.0)
        await desk.send(fresh)
        await until(lambda: len(desk.statuses) >= 4, "the fresh entry")
        assert desk.statuses[3].order_id == fresh.id and desk.statuses[3].status == "filled"
        assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1


async def test_a_command_whose_handling_raises_is_answered_with_an_error_and_the_next_one_runs(monkeypatch):
    async with Desk(settings_for()) as desk:
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        real = desk.executor.paper.execute
        calls = []

        async def breaks_once(cmd):
            calls.append(cmd.id)
            if len(calls) == 1:
                raise ZeroDivisionError("float division by zero")
            return await real(cmd)

        monkeypatch.setattr(desk.executor.paper, "execute", breaks_once)
        first, second = command(quantity=0.01), command(quantity=0.01)
        await desk.send(first)
        await desk.send(second)
        [error, filled] = [s for s in desk.statuses if s.purpose == "entry"]
        assert (error.order_id, error.status) == (first.id, "error") and "ZeroDivisionError" in error.error
        assert (filled.order_id, filled.status) == (second.id, "filled")


async def test_the_live_queue_is_bounded_entries_refused_when_full_closes_always_queue(
    api_keys, mock_binance, monkeypatch
):
    monkeypatch.setattr(executor_queue, "MAX_LIVE_QUEUE", 2)
    mock_binance.fail("POST", "/fapi/v1/order", "timeout")  # the first entry holds the queue for a while
    async with Desk(settings_for(mock_binance.base_url, paper=False)) as desk:
        await until(lambda: desk.modes() == [("live", "")], "live to start")
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        await desk.market("ETHUSDT", 2_500.0, 1_000)
        first = command(mode="live", ts=1_000)
        await desk.send(first)
        await until(lambda: mock_binance.calls("POST", "/fapi/v1/order"), "the first entry to be sent")
        queued = [command(mode="live", symbol="ETHUSDT", ref_price=2_500.0, ts=1_000) for _ in range(3)]
        for cmd in queued:
            await desk.send(cmd)
        close = command(mode="live", side="sell", purpose="close", ts=1_000)
        await desk.send(close)
        refused = next(s for s in desk.statuses if s.order_id == queued[2].id)
        assert refused.status == "rejected" and refused.error.startswith("queue_full:")
        assert [c.id for c in desk.executor.queue] == [queued[0].id, queued[1].id, close.id]
