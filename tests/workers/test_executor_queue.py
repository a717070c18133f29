"""The live queue behind an ambiguous placement: while an entry's outcome is looked up (until its window has
passed, ~11 s) a close of another symbol goes out at once; the symbol in doubt stays blocked (its next command
waits) until the venue has answered."""

from __future__ import annotations

import asyncio

from brokers.broker_helpers import command, settings_for
from test_executor import Desk, until

from tui_trader import messages as m


def of(desk: Desk, cmd: m.OrderCommand) -> list[str]:
    return [s.status for s in desk.statuses if s.order_id == cmd.id]


async def test_a_close_of_another_symbol_does_not_wait_behind_an_entry_whose_outcome_is_looked_up(
    api_keys, mock_binance
):
    async with Desk(settings_for(mock_binance.base_url, paper=False)) as desk:
        await until(lambda: ("live", "") in desk.modes(), "live to start")
        await desk.market("ETHUSDT", 2_500.0, 1_000)
        await desk.market("BTCUSDT", 60_000.0, 1_000)
        eth = command(
            symbol="ETHUSDT",
            mode="live",
            quantity=0.5,
            ref_price=2_500.0,
            stop_loss=2_400.0,
            take_profit=2_600.0,
            ts=1_000,
        )
        await desk.send(eth)
        await until(lambda: "filled" in of(desk, eth), "the ETH entry's fill")
        # The BTC entry's request never reaches the engine and its answer never comes: looked up until its
        # window has passed.
        mock_binance.fail("POST", "/fapi/v1/order", "drop", match={"symbol": "BTCUSDT"})
        btc = command(mode="live", quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_000)
        btc_next = command(mode="live", quantity=0.01, stop_loss=58_200.0, take_profit=63_600.0, ts=1_001)
        await desk.send(btc)
        await until(lambda: "BTCUSDT" in desk.executor.live.settling, "the BTC entry's lookups")
        await desk.send(btc_next)  # same symbol: waits for the first one's outcome
        close = command(
            symbol="ETHUSDT", side="sell", quantity=0.5, purpose="close", mode="live", ref_price=2_500.0, ts=1_002
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await desk.send(close)
        await until(lambda: "filled" in of(desk, close), "the ETH close", timeout=5.0)
        took = loop.time() - started
        assert of(desk, btc) == [] and "BTCUSDT" in desk.executor.live.settling, "the BTC entry is still looked up"
        assert took < 5.0 and of(desk, btc_next) == []  # the symbol in doubt stays blocked
        assert "ETHUSDT" not in mock_binance.positions or mock_binance.positions["ETHUSDT"]["amt"] == 0
        # Once its window has passed, the venue's answer is booked and the next BTC command runs.
        await until(lambda: of(desk, btc) == ["rejected"], "the BTC entry's outcome", timeout=20.0)
        assert "not resent" in next(s.error for s in desk.statuses if s.order_id == btc.id)
        await until(lambda: "filled" in of(desk, btc_next), "the next BTC entry")


async def test_an_operation_cancelled_while_it_takes_the_broker_lock_back_never_frees_another_holders_lock():
    import pytest

    from tui_trader.brokers.ccxt_broker import _take_back

    lock = asyncio.Lock()
    await lock.acquire()  # a close of another symbol holds it
    back = asyncio.create_task(_take_back(lock))
    await asyncio.sleep(0)  # one loop turn: it now waits for the lock
    back.cancel()  # the executor stops meanwhile
    await asyncio.sleep(0)
    assert not back.done() and lock.locked()  # the other holder still holds it alone
    lock.release()
    with pytest.raises(asyncio.CancelledError):
        await back
    assert lock.locked()  # taken for the cancelled operation, whose own `async with` releases it
