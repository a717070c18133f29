"""Live protective orders say which price triggers them (risk.trigger_price, default the mark, as the paper
broker triggers): Binance workingType MARK_PRICE / CONTRACT_PRICE, OKX slTriggerPxType / tpTriggerPxType
mark / last on the attached and the amended stop and target, Bybit slTriggerBy / tpTriggerBy MarkPrice /
LastPrice on the entry and on the position's trading-stop. Read from what the loopback venue received."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "brokers"))
from broker_helpers import SECRETS, SleepRecorder, command, fast_exchange
from net.mock_binance import MockBinance
from net.mock_bybit import MockBybit
from net.mock_okx import MockOkx

from tui_trader.brokers.ccxt_broker import CcxtBroker
from tui_trader.brokers.venues import venue_for
from tui_trader.settings import RiskSettings, Settings, parse, to_dict

# 0.04 % stop and 0.08 % target planned on 60 000; the fill lands 18 USDT above it, so OKX and Bybit move
# the attached ones to the fill (the amend call carries the trigger price type too).
PLAN = {"stop_loss": 60_000.0 * 0.9996, "take_profit": 60_000.0 * 1.0008}


def live_settings(url: str, name: str, trigger: str | None) -> Settings:
    data = to_dict(Settings())
    data["trading"]["paper_trading"] = False
    data["exchange"].update(name=name, api_base_url=url, poll_s=0.05, timeout_ms=500)
    if trigger is not None:
        data["risk"]["trigger_price"] = trigger
    return parse(data)


async def entered(mock, name: str, trigger: str | None):
    """Start `mock`, open a protected long through the live broker, stop both; the mock keeps its log."""
    await mock.start()
    broker = CcxtBroker(
        live_settings(mock.base_url, name, trigger), SECRETS, sleep=SleepRecorder(), factory=fast_exchange
    )
    try:
        await broker.start()
        reports = await broker.execute(command(quantity=0.01, mode="live", **PLAN))
    finally:
        await broker.close()
        await mock.stop()
    assert [(r.purpose, r.status) for r in reports] == [
        ("entry", "filled"),
        ("stop_loss", "accepted"),
        ("take_profit", "accepted"),
    ]
    return mock


def test_the_default_is_the_mark():
    assert RiskSettings().trigger_price == "mark"
    assert venue_for("binanceusdm").protective_params("stop_loss", 58_000.0, "c1")["workingType"] == "MARK_PRICE"


@pytest.mark.parametrize("trigger,expected", [(None, "MARK_PRICE"), ("mark", "MARK_PRICE"), ("last", "CONTRACT_PRICE")])
async def test_binance_stop_and_target_carry_the_working_type(trigger, expected):
    mock = await entered(MockBinance(), "binanceusdm", trigger)
    placed = mock.calls("POST", "/fapi/v1/algoOrder")
    assert sorted(c.params["type"] for c in placed) == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
    assert [c.params["workingType"] for c in placed] == [expected, expected]


@pytest.mark.parametrize("trigger,expected", [(None, "mark"), ("last", "last")])
async def test_okx_attached_and_amended_stop_and_target_carry_the_trigger_price_type(trigger, expected):
    mock = MockOkx()
    mock.slippage = 0.0003
    await entered(mock, "okx", trigger)
    [order] = json.loads(mock.calls("POST", "/api/v5/trade/batch-orders")[0].params["data"])
    [attached] = order["attachAlgoOrds"]
    assert (attached["slTriggerPxType"], attached["tpTriggerPxType"]) == (expected, expected)
    [amend] = mock.calls("POST", "/api/v5/trade/amend-algos")
    assert (amend.params["newSlTriggerPxType"], amend.params["newTpTriggerPxType"]) == (expected, expected)


@pytest.mark.parametrize("trigger,expected", [(None, "MarkPrice"), ("last", "LastPrice")])
async def test_bybit_entry_and_trading_stop_carry_the_trigger_by(trigger, expected):
    mock = MockBybit()
    mock.slippage = 0.0003
    await entered(mock, "bybit", trigger)
    order = mock.calls("POST", "/v5/order/create")[0].params
    assert (order["slTriggerBy"], order["tpTriggerBy"]) == (expected, expected)
    [stop] = mock.calls("POST", "/v5/position/trading-stop")
    assert (stop.params["slTriggerBy"], stop.params["tpTriggerBy"]) == (expected, expected)
