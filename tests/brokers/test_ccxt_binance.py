"""The ccxt broker driving the real ccxt client against the mock Binance USD-M server (127.0.0.1)."""

from __future__ import annotations

import logging

import pytest
from broker_helpers import SECRETS, SleepRecorder, command, fast_exchange, settings_for

from tui_trader import logs
from tui_trader.brokers.base import NO_POSITION, derived_id
from tui_trader.brokers.ccxt_broker import CcxtBroker


@pytest.fixture
async def live(mock_binance):
    sleeper = SleepRecorder()
    broker = CcxtBroker(
        settings_for(mock_binance.base_url, paper=False), SECRETS, sleep=sleeper, now=sleeper.now, factory=fast_exchange
    )
    await broker.start()
    broker.sleeper = sleeper
    try:
        yield broker
    finally:
        await broker.close()


def kinds(reports) -> list[tuple[str, str]]:
    return [(r.purpose, r.status) for r in reports]


def entry(**kw):
    kw.setdefault("stop_loss", 58_200.0)
    kw.setdefault("take_profit", 63_600.0)
    return command(quantity=0.01, mode="live", **kw)


async def test_entry_then_take_profit_sends_exactly_these_requests(live, mock_binance):
    cmd = entry()
    sl, tp = derived_id(cmd.id, "sl"), derived_id(cmd.id, "tp")
    reports = await live.execute(cmd)
    assert kinds(reports) == [("entry", "filled"), ("stop_loss", "accepted"), ("take_profit", "accepted")]
    fill = reports[0]
    assert (fill.filled_qty, fill.avg_price, fill.fee) == (0.01, 60_000.0, pytest.approx(0.3))
    assert (fill.stop_loss_order_id, fill.take_profit_order_id) == (sl, tp)
    assert await live.poll() == []  # both protective orders still rest

    mock_binance.set_price("BTCUSDT", 63_700.0)
    fired = await live.poll()
    assert kinds(fired) == [("take_profit", "filled"), ("stop_loss", "canceled")]
    assert (fired[0].order_id, fired[0].side, fired[0].filled_qty, fired[0].avg_price) == (tp, "sell", 0.01, 63_700.0)
    assert fired[1].order_id == sl

    assert mock_binance.sequence() == [
        "GET /fapi/v1/exchangeInfo",
        "POST /fapi/v1/marginType",
        "POST /fapi/v1/leverage",
        "POST /fapi/v1/order",
        "POST /fapi/v1/algoOrder",
        "POST /fapi/v1/algoOrder",
        "GET /fapi/v1/userTrades",
        "GET /fapi/v1/openAlgoOrders",
        "GET /fapi/v1/openAlgoOrders",
        "GET /fapi/v1/algoOrder",
        "GET /fapi/v1/order",
        "GET /fapi/v1/userTrades",
        "DELETE /fapi/v1/algoOrder",
    ]
    margin, lev, order, stop, take = mock_binance.requests[1:6]
    assert margin.params == {"symbol": "BTCUSDT", "marginType": "ISOLATED"}
    assert lev.params == {"symbol": "BTCUSDT", "leverage": "10"}
    assert order.params["newClientOrderId"] == cmd.id and order.params["type"] == "MARKET"
    assert order.params["side"] == "BUY" and order.params["quantity"] == "0.01" and "reduceOnly" not in order.params
    assert stop.params["type"] == "STOP_MARKET" and stop.params["reduceOnly"] == "true"
    assert (stop.params["clientAlgoId"], stop.params["triggerPrice"], stop.params["side"]) == (sl, "58200", "SELL")
    assert take.params["type"] == "TAKE_PROFIT_MARKET" and take.params["reduceOnly"] == "true"
    assert (take.params["clientAlgoId"], take.params["triggerPrice"], take.params["quantity"]) == (tp, "63600", "0.01")
    assert mock_binance.requests[-1].params["clientAlgoId"] == sl  # the sibling is canceled by its client id
    assert mock_binance.positions == {}


async def test_a_stop_fill_cancels_the_take_profit_and_leverage_is_set_once(live, mock_binance):
    await live.execute(entry())
    mock_binance.set_price("BTCUSDT", 58_100.0)
    fired = await live.poll()
    assert kinds(fired) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert fired[0].avg_price == 58_100.0
    await live.execute(entry(stop_loss=56_000.0, take_profit=60_000.0))
    assert len(mock_binance.calls("POST", "/fapi/v1/leverage")) == 1
    assert len(mock_binance.calls("POST", "/fapi/v1/marginType")) == 1


async def test_an_entry_that_times_out_is_looked_up_by_client_id_and_never_sent_again(live, mock_binance):
    mock_binance.fail("POST", "/fapi/v1/order", "timeout")  # placed, but the answer never comes back in time
    cmd = entry()
    reports = await live.execute(cmd)
    assert kinds(reports) == [("entry", "filled"), ("stop_loss", "accepted"), ("take_profit", "accepted")]
    assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1
    seq = mock_binance.sequence()
    after = seq[seq.index("POST /fapi/v1/order") + 1]
    assert after == "GET /fapi/v1/order"  # the lookup comes before anything else
    lookup = mock_binance.calls("GET", "/fapi/v1/order")[0]
    assert lookup.params["origClientOrderId"] == cmd.id
    assert mock_binance.positions["BTCUSDT"]["amt"] == 0.01


async def test_an_entry_that_times_out_and_never_arrived_is_rejected_not_resent(live, mock_binance):
    mock_binance.fail("POST", "/fapi/v1/order", "drop")
    cmd = entry()
    [out] = await live.execute(cmd)
    assert out.status == "rejected" and out.error.startswith("timeout:") and "not resent" in out.error
    [again] = await live.execute(cmd)
    assert again.error.startswith("duplicate:")
    assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1
    assert mock_binance.positions == {}


@pytest.mark.parametrize(
    "status,body,reason",
    [
        (400, {"code": -2019, "msg": "Margin is insufficient."}, "insufficient_margin"),
        (
            400,
            {"code": -4164, "msg": "Order's notional must be no smaller than 100 (unless you choose reduce only)."},
            "invalid_order",
        ),
        (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, "auth"),
    ],
)
async def test_exchange_refusals_become_rejections_with_the_exchange_message(live, mock_binance, status, body, reason):
    mock_binance.fail("POST", "/fapi/v1/order", "http", status=status, body=body)
    [out] = await live.execute(entry())
    assert out.status == "rejected"
    assert out.error.startswith(f"{reason}:") and body["msg"] in out.error
    assert not any(s in out.error for s in (SECRETS.api_key, SECRETS.api_secret))
    assert mock_binance.calls("POST", "/fapi/v1/algoOrder") == [] and mock_binance.positions == {}


async def test_a_rate_limit_pauses_requests_for_the_time_the_exchange_asks(live, mock_binance):
    mock_binance.fail_rate_limit("GET", "/fapi/v3/account", retry_after=3)
    view = await live.account()
    assert view.balance_total == 10_000.0
    assert [r.path for r in mock_binance.calls("GET", "/fapi/v3/account")] == ["/fapi/v3/account"] * 2
    assert len(live.sleeper.pauses) == 1 and 2.5 < live.sleeper.pauses[0] <= 3.0


async def test_a_rate_limited_entry_is_rejected_and_not_resent(live, mock_binance):
    mock_binance.fail_rate_limit("POST", "/fapi/v1/order", retry_after=2)
    [out] = await live.execute(entry())
    assert out.status == "rejected" and out.error.startswith("rate_limited:")
    assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1
    await live.account()  # the next request waits out the pause first
    assert len(live.sleeper.pauses) == 1 and 1.5 < live.sleeper.pauses[0] <= 2.0


async def test_reads_retry_network_trouble_with_a_growing_backoff(live, mock_binance):
    mock_binance.fail_server_error("GET", "/fapi/v3/positionRisk", times=2)
    await live.execute(entry())
    view = await live.account()
    assert [p.symbol for p in view.positions] == ["BTCUSDT"] and view.positions[0].quantity == 0.01
    assert live.sleeper.pauses == [0.5, 1.0]
    assert len(mock_binance.calls("GET", "/fapi/v3/positionRisk")) == 3


async def test_protection_that_cannot_be_placed_closes_the_position_at_once(live, mock_binance):
    cmd = entry(take_profit=59_000.0)  # below the price: Binance answers -2021 "Order would immediately trigger."
    reports = await live.execute(cmd)
    assert kinds(reports) == [
        ("entry", "filled"),
        ("take_profit", "rejected"),
        ("stop_loss", "canceled"),
        ("close", "filled"),
    ]
    assert reports[0].stop_loss_order_id is None and reports[0].take_profit_order_id is None
    assert (
        reports[1].error.startswith("protection_failed: invalid_order:")
        and "Order would immediately trigger." in reports[1].error
    )
    close = reports[3]
    assert (
        close.order_id == derived_id(cmd.id, "close")
        and close.filled_qty == 0.01
        and "position closed at once" in close.error
    )
    closing = mock_binance.calls("POST", "/fapi/v1/order")[-1]
    assert closing.params["reduceOnly"] == "true" and closing.params["newClientOrderId"] == close.order_id
    assert mock_binance.sequence()[6:9] == [
        "DELETE /fapi/v1/algoOpenOrders",
        "POST /fapi/v1/order",
        "GET /fapi/v1/userTrades",
    ]
    assert mock_binance.positions == {} and live.protections == {}


async def test_close_cancels_protection_then_closes_reduce_only_capped_to_the_position(live, mock_binance):
    opened = await live.execute(entry())
    mock_binance.clear()
    close = command(side="sell", quantity=1.0, purpose="close", mode="live")
    out = await live.execute(close)
    assert kinds(out) == [("stop_loss", "canceled"), ("take_profit", "canceled"), ("close", "filled")]
    assert [r.order_id for r in out[:2]] == [opened[0].stop_loss_order_id, opened[0].take_profit_order_id]
    assert out[2].filled_qty == 0.01
    seq = mock_binance.sequence()
    assert seq.index("DELETE /fapi/v1/algoOpenOrders") < seq.index("POST /fapi/v1/order")
    sent = mock_binance.calls("POST", "/fapi/v1/order")[0].params
    assert (sent["reduceOnly"], sent["quantity"], sent["newClientOrderId"]) == ("true", "0.01", close.id)
    [again] = await live.execute(command(side="sell", quantity=0.01, purpose="flatten", mode="live"))
    assert again.status == "rejected" and again.error == NO_POSITION


@pytest.fixture
def debug_log(tmp_path):
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    path = logs.setup(file=tmp_path / "desk.log", level=logging.DEBUG)
    yield path
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


async def test_no_secret_reaches_a_log_line_or_a_status(debug_log, live, mock_binance):
    mock_binance.fail(
        "POST",
        "/fapi/v1/order",
        "http",
        status=401,
        body={"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    reports = await live.execute(entry())
    reports += await live.execute(entry())
    mock_binance.fail_server_error("GET", "/fapi/v3/account")
    await live.account()
    text = debug_log.read_text() + "".join(str(r) for r in reports)
    assert "X-MBX-APIKEY" in text  # ccxt logged its request headers at debug level …
    for secret in (SECRETS.api_key, SECRETS.api_secret):
        assert secret not in text  # … with the key redacted


async def test_a_close_also_cancels_stops_the_desk_does_not_know_about(live, mock_binance):
    # A position and a reduce-only stop from before a restart: the stop must not outlive the position.
    other = await live.execute(entry())
    live.protections.clear()
    out = await live.execute(command(side="sell", quantity=0.01, purpose="close", mode="live"))
    assert kinds(out) == [("close", "filled")]
    assert {a["clientAlgoId"]: a["algoStatus"] for a in mock_binance.algos.values()} == {
        other[0].stop_loss_order_id: "CANCELED",
        other[0].take_profit_order_id: "CANCELED",
    }


async def test_an_entry_whose_state_cannot_be_learned_stays_unknown_blocks_its_symbol_until_the_venue_answers(
    live, mock_binance
):
    mock_binance.fail("POST", "/fapi/v1/order", "timeout")
    mock_binance.fail_server_error("GET", "/fapi/v1/order", times=1_000)  # every lookup fails for now
    cmd = entry()
    [out] = await live.execute(cmd)
    assert out.status == "error" and out.error.startswith("unknown:") and "check BTCUSDT on binanceusdm" in out.error
    assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1
    # It was looked up until its window (recvWindow 10 s, sent with the request) had passed, on the fake clock.
    assert sum(live.sleeper.pauses) > 10.0
    [again] = await live.execute(cmd)
    assert again.error.startswith("duplicate:") and len(mock_binance.calls("POST", "/fapi/v1/order")) == 1
    [other] = await live.execute(entry())  # no new entry on the symbol while the outcome is unknown
    assert other.status == "rejected" and other.error.startswith("unknown_outcome:")
    assert await live.poll() == []  # still no answer: still unknown
    mock_binance.failures.clear()
    settled = await live.poll()  # the venue answers: the order did execute; booked with its protection
    assert kinds(settled) == [("entry", "filled"), ("stop_loss", "accepted"), ("take_profit", "accepted")]
    assert settled[0].order_id == cmd.id and settled[0].filled_qty == 0.01 and live.unknown == {}
    assert len(mock_binance.calls("POST", "/fapi/v1/order")) == 1 and mock_binance.positions["BTCUSDT"]["amt"] == 0.01
