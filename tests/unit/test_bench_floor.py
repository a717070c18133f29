"""The benchmark's floor: measured in the same run on the same input, it decodes every frame and updates the
indicators on every trade, and the ratio floor ÷ pipeline falls when the pipeline gets slower."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from tui_trader import bench, paths
from tui_trader.indicators.signals import SignalEngine
from tui_trader.settings import Settings


def test_bench_reports_floor_pipeline_and_ratio_on_the_same_input():
    result = bench.run(None, 2, 4000, None, False)
    assert result["floor_frames"] == result["market_messages"] == 4000
    assert result["floor_trades"] == result["floor_indicator_updates"] == result["indicator_points"] == 1000
    assert result["floor_undecoded"] == 0
    assert result["floor_s"] > 0 and result["pipeline_s"] > 0
    assert result["ratio"] == round(result["floor_s"] / result["pipeline_s"], 3)
    assert json.loads(json.dumps(result))["ratio"] == result["ratio"]  # in --json too


def test_floor_decodes_every_frame_of_a_real_capture(tmp_path):
    data = paths.shared_data_dir()
    capture = data / "binance_usdm_ws" / "btcusdt_20240808.gz" if data else None
    if capture is None or not capture.exists():
        pytest.skip("the real BTCUSDT capture is not here (../shared/data or $TUI_TRADER_DATA)")
    with gzip.open(capture, "rb") as fh:
        lines = [fh.readline() for _ in range(3000)]  # trades, book tickers, depth and a REST snapshot (line 55)
    part = tmp_path / "part.gz"
    with gzip.open(part, "wb") as out:
        out.writelines(lines)
    trades = sum(b"@trade" in line for line in lines)
    assert trades and any(b"@depth" in line for line in lines) and any(b'"stream"' not in line for line in lines)

    result = bench.floor(part, Settings().indicators)
    assert result["floor_frames"] == 3000 and result["floor_undecoded"] == 0
    assert result["floor_trades"] == result["floor_indicator_updates"] == trades


def test_a_slower_pipeline_shows_a_lower_ratio(monkeypatch):
    fast = bench.run(None, 2, 4000, None, False)
    on_trade = SignalEngine.on_trade

    def slow_on_trade(self, *args, **kwargs):
        end = time.perf_counter_ns() + 2_000_000  # 2 ms of work per trade (2 s in all): the pipeline's, not the floor's
        while time.perf_counter_ns() < end:
            pass
        return on_trade(self, *args, **kwargs)

    monkeypatch.setattr(SignalEngine, "on_trade", slow_on_trade)
    slow = bench.run(None, 2, 4000, None, False)
    assert slow["floor_indicator_updates"] == fast["floor_indicator_updates"]  # the same floor work
    assert slow["pipeline_s"] > 2.0
    assert slow["ratio"] < fast["ratio"]


def test_the_desk_attached_sees_the_same_run_and_reports_it():
    result = bench.run(None, 2, 4000, None, True)
    assert result["ui"] is True
    assert result["market_messages"] == result["floor_frames"] == 4000
    assert result["indicator_points"] == result["floor_indicator_updates"] == 1000
    assert result["receipt_to_signal"]["count"] == result["signals"] > 0
    assert result["peak_rss_mb"] > 0 and result["ratio"] > 0
