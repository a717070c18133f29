"""Protection priced from the fill: the ccxt broker against the mock Binance venue, entries filling with slippage.

The command carries the router's plan at its reference price (stop_loss_pct / take_profit_pct away from it);
the stop-loss and take-profit that rest at the venue must sit at those distances from the entry's average fill
price, rounded to the tick toward the fill, whatever the slippage. Read back from the venue's own order book.
"""

from __future__ import annotations

import pytest
from broker_helpers import SECRETS, SleepRecorder, command, fast_exchange, settings_for
from net.mock_binance import SYMBOLS

from tui_trader.brokers.ccxt_broker import CcxtBroker

STOP_PCT, TARGET_PCT = 0.0004, 0.0008  # the issue's case: stop 0.04 %, take-profit 0.08 %


@pytest.fixture
async def live(mock_binance):
    broker = CcxtBroker(
        settings_for(mock_binance.base_url, paper=False), SECRETS, sleep=SleepRecorder(), factory=fast_exchange
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


def planned(symbol: str, side: str, ref: float, qty: float):
    """An entry as the router plans it: SL/TP at the configured distances from the reference price."""
    sign = 1 if side == "buy" else -1
    return command(
        symbol=symbol,
        side=side,
        quantity=qty,
        mode="live",
        ref_price=ref,
        stop_loss=ref * (1 - sign * STOP_PCT),
        take_profit=ref * (1 + sign * TARGET_PCT),
    )


def resting(mock, symbol: str) -> dict[str, float]:
    return {
        a["orderType"]: float(a["triggerPrice"])
        for a in mock.algos.values()
        if a["symbol"] == symbol and a["algoStatus"] == "NEW"
    }


@pytest.mark.parametrize(
    "symbol,side,mark,ref,slip",
    [
        ("BTCUSDT", "sell", 63_940.0, 63_959.9, 0.00025),  # the issue's short: planned at 63,959.9, filled lower
        ("BTCUSDT", "buy", 60_000.0, 59_980.0, 0.0003),
        ("ETHUSDT", "buy", 2_500.0, 2_503.0, -0.0002),  # filled better than the mark (price improvement)
        ("ETHUSDT", "sell", 2_500.0, 2_490.0, 0.0003),
    ],
)
async def test_every_stop_and_target_rests_at_the_configured_distance_from_the_fill(
    live, mock_binance, symbol, side, mark, ref, slip
):
    mock_binance.set_price(symbol, mark)
    mock_binance.slippage = slip
    reports = await live.execute(planned(symbol, side, ref, 0.05 if symbol == "BTCUSDT" else 1.0))
    assert [(r.purpose, r.status) for r in reports] == [
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
    ]
    fill = reports[0].avg_price
    assert fill != pytest.approx(ref, abs=1e-9)  # it did fill away from the plan's price
    tick = float(SYMBOLS[symbol]["tick"])
    book = resting(mock_binance, symbol)
    stop, target = book["STOP_MARKET"], book["TAKE_PROFIT_MARKET"]
    sign = 1 if side == "buy" else -1
    # On the protective side of the fill, never farther than configured, at most one tick nearer.
    stop_dist, target_dist = sign * (fill - stop), sign * (target - fill)
    assert fill * STOP_PCT - tick < stop_dist <= fill * STOP_PCT + 1e-9
    assert fill * TARGET_PCT - tick < target_dist <= fill * TARGET_PCT + 1e-9
    assert abs(stop / tick - round(stop / tick)) < 1e-6 and abs(target / tick - round(target / tick)) < 1e-6
    # The entry's status says what was placed.
    assert (reports[0].stop_loss_price, reports[0].take_profit_price) == (stop, target)
    status = reports[0].to_status("live", 1)
    assert (status.stop_loss_price, status.take_profit_price) == (stop, target)


async def test_the_issue_short_no_longer_gets_a_stop_twice_as_far_and_a_target_a_third_as_far(live, mock_binance):
    # Planned at 63,959.9, filled at 63,924.5: the old stop went to 63,985.4 (0.095 % from the fill) and the
    # target to 63,908.8 (0.025 %).
    mock_binance.set_price("BTCUSDT", 63_924.5)
    reports = await live.execute(planned("BTCUSDT", "sell", 63_959.9, 0.05))
    assert reports[0].avg_price == 63_924.5
    book = resting(mock_binance, "BTCUSDT")
    assert book == {"STOP_MARKET": 63_950.0, "TAKE_PROFIT_MARKET": 63_873.4}  # 63,924.5 × (1 ± pct), toward the fill


async def test_a_market_already_beyond_the_stop_when_the_fill_is_known_closes_at_once_and_says_why(live, mock_binance):
    mock_binance.set_price("BTCUSDT", 60_000.0)
    mock_binance.slippage = 0.001  # a long filled 0.1 % above the market: its 0.04 % stop is above the market
    reports = await live.execute(planned("BTCUSDT", "buy", 60_000.0, 0.05))
    assert [(r.purpose, r.status) for r in reports] == [
        ("entry", "filled"),
        ("stop_loss", "rejected"),
        ("close", "filled"),
    ]
    assert "already beyond the stop-loss" in reports[1].error and "position closed at once" in reports[2].error
    assert mock_binance.positions == {} and resting(mock_binance, "BTCUSDT") == {}


# --- OKX: the SL/TP attached to the entry become one algo order; it is amended to the fill ----------------------


@pytest.fixture
async def okx():
    from net.mock_okx import MockOkx

    mock = MockOkx()
    await mock.start()
    broker = CcxtBroker(
        settings_for(mock.base_url, name="okx", paper=False), SECRETS, sleep=SleepRecorder(), factory=fast_exchange
    )
    await broker.start()
    try:
        yield broker, mock
    finally:
        await broker.close()
        await mock.stop()


def okx_resting(mock, inst: str) -> list[tuple[float, float, float]]:
    """(stop-loss trigger, take-profit trigger, size in contracts) of each live algo order of the swap."""
    return [
        (float(a["slTriggerPx"]), float(a["tpTriggerPx"]), float(a["sz"]))
        for a in mock.algos.values()
        if a["instId"] == inst and a["state"] == "live"
    ]


@pytest.mark.parametrize(
    "symbol,side,mark,ref,slip",
    [
        ("BTCUSDT", "sell", 63_940.0, 63_959.9, 0.00025),
        ("BTCUSDT", "buy", 60_000.0, 59_980.0, 0.0003),
        ("ETHUSDT", "buy", 2_500.0, 2_503.0, -0.0002),
        ("ETHUSDT", "sell", 2_500.0, 2_490.0, 0.0003),
    ],
)
async def test_okx_stop_and_target_rest_at_the_configured_distance_from_the_fill(okx, symbol, side, mark, ref, slip):
    from net.mock_okx import INSTRUMENTS

    broker, mock = okx
    inst = f"{symbol[:-4]}-USDT-SWAP"
    mock.prices[inst] = mark
    mock.slippage = slip
    qty = 0.05 if symbol == "BTCUSDT" else 1.0
    reports = await broker.execute(planned(symbol, side, ref, qty))
    assert [(r.purpose, r.status) for r in reports] == [
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
    ]
    fill = reports[0].avg_price
    assert fill != pytest.approx(ref, abs=1e-9)
    tick = float(INSTRUMENTS[inst]["tickSz"])
    [(stop, target, size)] = okx_resting(mock, inst)
    sign = 1 if side == "buy" else -1
    assert fill * STOP_PCT - tick < sign * (fill - stop) <= fill * STOP_PCT + 1e-9
    assert fill * TARGET_PCT - tick < sign * (target - fill) <= fill * TARGET_PCT + 1e-9
    assert size * float(INSTRUMENTS[inst]["ctVal"]) == pytest.approx(qty)
    assert (reports[0].stop_loss_price, reports[0].take_profit_price) == (stop, target)
    # What the watchdog and the desk read: the venue's own algo order, resting with the whole position.
    state = await broker.venue_state()
    [snap] = state.view.positions
    assert (snap.stop_loss, snap.take_profit, snap.stop_loss_resting, snap.take_profit_resting) == (
        stop,
        target,
        True,
        True,
    )
    assert sorted((o.role, o.trigger_price, o.quantity) for o in state.orders) == [
        ("stop_loss", stop, pytest.approx(qty)),
        ("take_profit", target, pytest.approx(qty)),
    ]


async def test_okx_the_issue_short_rests_at_the_fill_not_at_the_plan(okx):
    broker, mock = okx
    mock.prices["BTC-USDT-SWAP"] = 63_924.5
    reports = await broker.execute(planned("BTCUSDT", "sell", 63_959.9, 0.05))
    assert reports[0].avg_price == 63_924.5
    assert okx_resting(mock, "BTC-USDT-SWAP") == [(63_950.0, 63_873.4, 5.0)]
    [amend] = mock.calls("POST", "/api/v5/trade/amend-algos")
    assert (amend.params["newSlTriggerPx"], amend.params["newTpTriggerPx"]) == ("63950", "63873.4")
    assert amend.params["newSlOrdPx"] == amend.params["newTpOrdPx"] == "-1"


async def test_okx_a_protective_algo_the_venue_dropped_shows_as_not_resting(okx):
    broker, mock = okx
    await broker.execute(planned("BTCUSDT", "buy", 60_000.0, 0.05))
    for algo in mock.algos.values():
        algo["state"] = "canceled"  # canceled at the venue by hand
    [snap] = (await broker.venue_state()).view.positions
    assert (snap.stop_loss_resting, snap.take_profit_resting) == (False, False)


async def test_okx_an_algo_order_listed_only_after_the_fill_is_still_moved_to_the_fill(okx):
    broker, mock = okx
    mock.prices["BTC-USDT-SWAP"] = 63_924.5
    mock.algo_lag = 1  # the venue lists the attached algo order a moment after the fill
    reports = await broker.execute(planned("BTCUSDT", "sell", 63_959.9, 0.05))
    assert okx_resting(mock, "BTC-USDT-SWAP") == [(63_950.0, 63_873.4, 5.0)]
    assert (reports[0].stop_loss_price, reports[0].take_profit_price) == (63_950.0, 63_873.4)


async def test_okx_an_entry_that_adds_to_a_position_leaves_protection_for_the_whole_position(okx):
    broker, mock = okx
    mock.prices["BTC-USDT-SWAP"] = 60_000.0
    await broker.execute(planned("BTCUSDT", "buy", 60_000.0, 0.05))
    mock.prices["BTC-USDT-SWAP"] = 60_100.0
    reports = await broker.execute(planned("BTCUSDT", "buy", 60_100.0, 0.05))
    assert [(r.purpose, r.status) for r in reports] == [
        ("stop_loss", "canceled"),
        ("take_profit", "canceled"),
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
    ]
    [(stop, target, size)] = okx_resting(mock, "BTC-USDT-SWAP")
    assert size == 10.0  # 0.1 BTC in contracts: the whole position, not the second entry's 0.05
    avg = 60_050.0  # anchored on the position's average entry
    assert (
        avg * STOP_PCT - 0.1 < avg - stop <= avg * STOP_PCT + 1e-9
        and avg * TARGET_PCT - 0.1 < target - avg <= avg * TARGET_PCT + 1e-9
    )
    [snap] = (await broker.venue_state()).view.positions
    assert (snap.quantity, snap.stop_loss_resting, snap.take_profit_resting) == (pytest.approx(0.1), True, True)
