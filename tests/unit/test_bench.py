"""The benchmark runs on a fresh clone (synthetic input) and accounts for every message it reports."""

from __future__ import annotations

import gzip
import json

from tui_trader import bench
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
