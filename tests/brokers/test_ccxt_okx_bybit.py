"""OKX and Bybit through the real ccxt client against small mocks: leverage set, SL/TP attached to the entry."""

from __future__ import annotations

import json

import pytest
from broker_helpers import SECRETS, SleepRecorder, command, fast_exchange, settings_for
from net.mock_bybit import MockBybit
from net.mock_okx import MockOkx

from tui_trader.brokers.base import derived_id
from tui_trader.brokers.ccxt_broker import CcxtBroker


async def _broker(mock, name):
    await mock.start()
    broker = CcxtBroker(
        settings_for(mock.base_url, name=name, paper=False), SECRETS, sleep=SleepRecorder(), factory=fast_exchange
    )
    await broker.start()
    return broker


@pytest.fixture
async def okx():
    mock = MockOkx()
    broker = await _broker(mock, "okx")
    try:
        yield broker, mock
    finally:
        await broker.close()
        await mock.stop()


@pytest.fixture
async def bybit():
    mock = MockBybit()
    broker = await _broker(mock, "bybit")
    try:
        yield broker, mock
    finally:
        await broker.close()
        await mock.stop()


def kinds(reports):
    return [(r.purpose, r.status) for r in reports]


async def test_okx_sets_leverage_and_attaches_sl_tp_to_an_order_sized_in_contracts(okx):
    broker, mock = okx
    cmd = command(quantity=0.0105, mode="live", stop_loss=58_200.0, take_profit=63_600.0)
    reports = await broker.execute(cmd)
    assert kinds(reports) == [("entry", "filled"), ("stop_loss", "accepted"), ("take_profit", "accepted")]
    assert reports[0].filled_qty == pytest.approx(0.0105) and reports[0].fee == pytest.approx(0.315)  # base units
    assert mock.sequence()[:3] == [
        "GET /api/v5/public/instruments",
        "POST /api/v5/account/set-leverage",
        "POST /api/v5/trade/batch-orders",
    ]
    lev = mock.requests[1].params
    assert (lev["instId"], lev["lever"], lev["mgnMode"], lev["posSide"]) == ("BTC-USDT-SWAP", "10", "isolated", "net")
    [order] = json.loads(mock.requests[2].params["data"])
    assert order["clOrdId"] == cmd.id.replace("-", "") and len(order["clOrdId"]) == 32
    assert (order["ordType"], order["side"], order["sz"], order["tdMode"]) == ("market", "buy", "1.05", "isolated")
    [attached] = order["attachAlgoOrds"]
    assert (attached["slTriggerPx"], attached["tpTriggerPx"]) == ("58200", "63600")
    assert attached["slOrdPx"] == attached["tpOrdPx"] == "-1"  # market stop and target


async def test_okx_a_target_hit_on_the_exchange_reports_the_fill_and_the_stop_gone(okx):
    broker, mock = okx
    cmd = command(quantity=0.01, mode="live", stop_loss=58_200.0, take_profit=63_600.0)
    await broker.execute(cmd)
    assert await broker.poll() == []
    mock.set_price("BTCUSDT", 63_700.0)
    fired = await broker.poll()
    assert kinds(fired) == [("take_profit", "filled"), ("stop_loss", "canceled")]
    assert fired[0].order_id == derived_id(cmd.id, "tp") and fired[0].avg_price == 63_700.0
    assert fired[0].filled_qty == pytest.approx(0.01)


async def test_okx_close_cancels_the_attached_algo_then_closes_reduce_only(okx):
    broker, mock = okx
    await broker.execute(command(quantity=0.01, mode="live", stop_loss=58_200.0, take_profit=63_600.0))
    mock.clear()
    out = await broker.execute(command(side="sell", quantity=0.01, purpose="close", mode="live"))
    assert kinds(out) == [("stop_loss", "canceled"), ("take_profit", "canceled"), ("close", "filled")]
    seq = mock.sequence()
    assert seq.index("POST /api/v5/trade/cancel-algos") < seq.index("POST /api/v5/trade/batch-orders")
    [closing] = json.loads(mock.calls("POST", "/api/v5/trade/batch-orders")[0].params["data"])
    assert closing["reduceOnly"] is True and closing["sz"] == "1"
    assert mock.positions == {}


async def test_bybit_sets_margin_mode_and_leverage_and_attaches_sl_tp(bybit):
    broker, mock = bybit
    cmd = command(quantity=0.01, mode="live", stop_loss=58_200.0, take_profit=63_600.0)
    reports = await broker.execute(cmd)
    assert kinds(reports) == [("entry", "filled"), ("stop_loss", "accepted"), ("take_profit", "accepted")]
    assert reports[0].fee == pytest.approx(0.33)
    seq = mock.sequence()
    assert (
        seq.index("POST /v5/account/set-margin-mode")
        < seq.index("POST /v5/position/set-leverage")
        < seq.index("POST /v5/order/create")
    )
    assert mock.calls("POST", "/v5/account/set-margin-mode")[0].params == {"setMarginMode": "ISOLATED_MARGIN"}
    lev = mock.calls("POST", "/v5/position/set-leverage")[0].params
    assert (lev["symbol"], lev["buyLeverage"], lev["sellLeverage"], lev["category"]) == (
        "BTCUSDT",
        "10",
        "10",
        "linear",
    )
    order = mock.calls("POST", "/v5/order/create")[0].params
    assert (order["orderLinkId"], order["orderType"], order["side"], order["qty"]) == (cmd.id, "Market", "Buy", "0.01")
    assert (order["stopLoss"], order["takeProfit"]) == ("58200", "63600")
    assert mock.positions["BTCUSDT"]["sl"] == "58200"


async def test_bybit_a_stop_hit_on_the_exchange_is_reported_and_leverage_already_set_is_fine(bybit):
    broker, mock = bybit
    cmd = command(quantity=0.01, mode="live", stop_loss=58_200.0, take_profit=63_600.0)
    await broker.execute(cmd)
    mock.set_price("BTCUSDT", 58_100.0)
    fired = await broker.poll()
    assert kinds(fired) == [("stop_loss", "filled"), ("take_profit", "canceled")]
    assert fired[0].order_id == derived_id(cmd.id, "sl") and fired[0].avg_price == 58_100.0
    broker._prepared.clear()  # as after a restart: the exchange answers "not modified" (110043)
    reports = await broker.execute(command(quantity=0.01, mode="live", stop_loss=57_000.0, take_profit=60_000.0))
    assert reports[0].status == "filled"


async def test_bybit_moves_the_attached_stop_and_target_to_the_fill(bybit):
    broker, mock = bybit
    mock.slippage = 0.0003  # a long filled 18 USDT above the plan's price
    cmd = command(quantity=0.01, mode="live", stop_loss=60_000.0 * 0.9996, take_profit=60_000.0 * 1.0008)
    reports = await broker.execute(cmd)
    fill = reports[0].avg_price
    assert fill == 60_018.0
    pos = mock.positions["BTCUSDT"]
    # 0.04 % and 0.08 % from the fill, rounded toward it: what rests on the position and what the status says.
    assert (float(pos["sl"]), float(pos["tp"])) == (59_994.0, 60_066.0)
    assert (reports[0].stop_loss_price, reports[0].take_profit_price) == (59_994.0, 60_066.0)
