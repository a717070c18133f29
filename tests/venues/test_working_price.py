"""Live protective orders say which price triggers them: Binance workingType MARK_PRICE by default (the mark,
as the paper broker triggers), CONTRACT_PRICE when risk.trigger_price is "last"."""

from __future__ import annotations

from tui_trader.brokers.venues import venue_for
from tui_trader.settings import RiskSettings


def test_binance_protective_orders_trigger_on_the_mark_by_default_and_on_the_last_trade_when_set():
    assert RiskSettings().trigger_price == "mark"
    venue = venue_for("binanceusdm")
    assert venue.protective_params("stop_loss", 58_000.0, "c1")["workingType"] == "MARK_PRICE"
    venue.trigger_price = "last"  # type: ignore[attr-defined]
    params = venue.protective_params("take_profit", 63_000.0, "c2")
    assert params == {"takeProfitPrice": 63_000.0, "reduceOnly": True, "clientOrderId": "c2",
                      "workingType": "CONTRACT_PRICE"}
