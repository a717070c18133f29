"""The benchmark runs on a fresh clone (synthetic input) and accounts for every message it reports."""

from __future__ import annotations

import gzip
import json
import time

from tui_trader import bench
from tui_trader import messages as m
from tui_trader.feeds.parser import FrameParser
from tui_trader.feeds.replay import RecordingReader


def test_synthetic_recording_is_valid_binance_frames_with_unique_trade_prices(tmp_path):
    path = bench.write_synthetic(tmp_path / "s.gz", 4000, bench.synthetic_symbols(2))
    parser = FrameParser()
    mds = [md for _, raw in RecordingReader(path) if (md := parser.parse(raw, 0)) is not None]
    assert len(mds) == 4000 and parser.malformed == {}
    trades = [(md.symbol, md.price) for md in mds if md.kind == "trade"]
    assert len(trades) == 1000 and len(set(trades)) == len(trades)
    with gzip.open(path, "rt") as fh:
        assert fh.readline().split(" ", 1)[0].isdigit()


def test_bench_reports_every_message_and_a_latency_per_signal():
    result = bench.run(None, 2, 6000, None, False)
    assert result["market_messages"] == 6000
    assert result["indicator_points"] == 1500
    assert result["receipt_to_signal"]["count"] == result["signals"] > 0
    assert result["peak_rss_mb"] > 0
    json.dumps(result)  # the --json output


def test_a_signal_is_tied_to_the_newest_trade_of_its_symbol_at_its_price():
    cluster = bench.TimingCluster(retention=1000)
    cluster.create(m.MARKET_DATA)
    cluster.create(m.SIGNALS)

    def trade(price: float, i: int) -> m.MarketData:
        return m.MarketData(symbol="BTCUSDT", kind="trade", price=price, event_time=i, recv_time=i, ts=i)

    cluster.append_msgs(m.MARKET_DATA, ["BTCUSDT"], [trade(100.0, 1)])
    between = time.perf_counter_ns()
    book = m.MarketData(symbol="BTCUSDT", kind="book", bid=99.0, ask=101.0, event_time=2, recv_time=2, ts=2)
    cluster.append_msgs(m.MARKET_DATA, ["BTCUSDT", "BTCUSDT"], [book, trade(100.0, 3)])  # the same price again
    values = dict.fromkeys(m.Indicators.__struct_fields__, 1.0)
    signal = m.TradingSignal(
        id="s1",
        symbol="BTCUSDT",
        signal="Buy",
        strength=1.0,
        buy_score=1,
        sell_score=0,
        reasons=[],
        indicators=m.Indicators(**values),
        price=100.0,
        ts=3,
    )
    cluster.append(m.SIGNALS, "BTCUSDT", None, signal)
    published, trade_at = cluster.signals["s1"]
    assert between < trade_at <= published  # the second trade at 100.0, not the first
