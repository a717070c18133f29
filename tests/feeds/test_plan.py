"""The connection plan: which routed paths and streams the collector opens for a set of symbols."""

from __future__ import annotations

import pytest
from feedkit import make_settings

from tui_trader.errors import FeedError
from tui_trader.feeds.binance_plan import plan_connections, plan_from_settings, route_of
from tui_trader.feeds.connection import backoff_delay


def by_name(specs):
    return {s.name: (s.route, list(s.streams)) for s in specs}


def test_dedicated_symbols_get_their_own_connections_and_aggtrade_goes_to_market():
    specs = plan_connections(
        ["BTCUSDT", "SOLUSDT", "ETHUSDT", "XRPUSDT"], trade_stream="aggTrade", dedicated=["BTCUSDT", "ETHUSDT"]
    )
    assert by_name(specs) == {
        "public-btcusdt": ("public", ["btcusdt@bookTicker"]),
        "market-btcusdt": ("market", ["btcusdt@aggTrade"]),
        "public-ethusdt": ("public", ["ethusdt@bookTicker"]),
        "market-ethusdt": ("market", ["ethusdt@aggTrade"]),
        "public-shared-1": ("public", ["solusdt@bookTicker", "xrpusdt@bookTicker"]),
        "market-shared-1": ("market", ["solusdt@aggTrade", "xrpusdt@aggTrade"]),
    }


def test_trade_stream_rides_with_bookticker_on_public():
    specs = plan_connections(["BTCUSDT", "SOLUSDT"], trade_stream="trade", dedicated=["BTCUSDT"])
    assert by_name(specs) == {
        "public-btcusdt": ("public", ["btcusdt@trade", "btcusdt@bookTicker"]),
        "public-shared-1": ("public", ["solusdt@trade", "solusdt@bookTicker"]),
    }


def test_dedicated_symbols_not_traded_open_nothing():
    specs = plan_connections(["SOLUSDT"], dedicated=["BTCUSDT", "ETHUSDT"])
    assert [s.name for s in specs] == ["public-shared-1", "market-shared-1"]


def test_shared_connections_hold_at_most_the_limit_and_never_mix_paths():
    symbols = [f"COIN{i}USDT" for i in range(450)]
    specs = plan_connections(symbols, trade_stream="aggTrade", per_connection=200)
    assert [len(s.streams) for s in specs if s.route == "public"] == [200, 200, 50]
    assert [len(s.streams) for s in specs if s.route == "market"] == [200, 200, 50]
    every = [st for s in specs for st in s.streams]
    assert len(every) == len(set(every)) == 900  # each symbol's two streams, exactly once
    for spec in specs:
        assert {route_of(st) for st in spec.streams} == {spec.route}
        assert all(st.partition("@")[0].islower() or st.partition("@")[0].isdigit() for st in spec.streams)


def test_url_is_the_routed_combined_stream_form():
    spec = plan_connections(["BTCUSDT"], trade_stream="aggTrade", dedicated=["BTCUSDT"])[1]
    assert spec.url("wss://fstream.binance.com/") == "wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade"
    assert spec.symbols == ["BTCUSDT"]


@pytest.mark.parametrize(
    "stream, route",
    [
        ("btcusdt@bookTicker", "public"),
        ("btcusdt@trade", "public"),
        ("btcusdt@depth@0ms", "public"),
        ("btcusdt@aggTrade", "market"),
        ("btcusdt@markPrice@1s", "market"),
        ("btcusdt@kline_1m", "market"),
    ],
)
def test_routes_follow_the_exchange_split(stream, route):
    assert route_of(stream) == route


def test_settings_plan_uses_the_traded_symbols_and_rejects_a_non_websocket_url():
    specs = plan_from_settings(make_settings(["ETHUSDT", "BTCUSDT"], dedicated_symbols=["ETHUSDT"]))
    assert [s.name for s in specs] == ["public-ethusdt", "market-ethusdt", "public-shared-1", "market-shared-1"]
    with pytest.raises(FeedError, match="ws_base_url"):
        plan_from_settings(make_settings(ws_base_url="https://fstream.binance.com"))


def test_backoff_doubles_to_the_cap_with_jitter():
    top = [backoff_delay(a, 0.5, 30.0, rand=lambda: 1.0) for a in range(10)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    low = [backoff_delay(a, 0.5, 30.0, rand=lambda: 0.0) for a in range(10)]
    assert low == [t / 2 for t in top]  # never below half: jitter spreads retries without collapsing them
    assert backoff_delay(10_000, 0.5, 30.0) <= 30.0


def test_with_marks_each_symbol_reads_its_mark_price_once_a_second_on_the_market_path():
    specs = plan_from_settings(make_settings(["BTCUSDT", "SOLUSDT"], marks=True, dedicated_symbols=["BTCUSDT"]))
    assert by_name(specs)["market-btcusdt"] == ("market", ["btcusdt@aggTrade", "btcusdt@markPrice@1s"])
    assert "solusdt@markPrice@1s" in by_name(specs)["market-shared-1"][1]
