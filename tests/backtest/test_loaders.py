"""Every input format gives the same bars: kline JSON (plain, gzip), Binance kline CSV (plain or zipped, with
or without the header, milli- or microseconds), and recordings (trades → bars); gaps are found, not filled."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from btkit import MIN, T0, csv_text, walk, write_json, write_zip

from tui_trader.backtest import loaders
from tui_trader.backtest.loaders import DataError

ROWS = walk(300, seed=3)


def same_bars(bars, rows=ROWS):
    a = np.array(rows)
    assert bars.open_ms.tolist() == a[:, 0].astype(np.int64).tolist()
    for i, col in enumerate(("open", "high", "low", "close", "volume"), 1):
        assert getattr(bars, col).tolist() == pytest.approx(a[:, i].tolist())


@pytest.mark.parametrize("gz", [False, True])
def test_json_arrays_plain_and_gzip(tmp_path, gz):
    path = write_json(tmp_path / ("BTC_USDT-1m.json" + (".gz" if gz else "")), ROWS, gz=gz)
    (bars,) = loaders.load(path, None, 60_000)
    assert bars.symbol == "BTCUSDT"
    same_bars(bars)


@pytest.mark.parametrize("header", [True, False])
def test_binance_csv_plain(tmp_path, header):
    path = tmp_path / "ETHUSDT-1m-2023-11.csv"
    path.write_text(csv_text(ROWS, header))
    (bars,) = loaders.load(path, None, 60_000)
    assert bars.symbol == "ETHUSDT"
    same_bars(bars)


@pytest.mark.parametrize("header", [True, False])
def test_binance_csv_zipped(tmp_path, header):
    path = write_zip(tmp_path / "SOLUSDT-1m-2023-11.zip", "SOLUSDT-1m-2023-11.csv", csv_text(ROWS, header))
    (bars,) = loaders.load(path, "SOLUSDT", 60_000)
    same_bars(bars)


def test_binance_csv_in_microseconds(tmp_path):
    path = tmp_path / "BTCUSDT-1m-2025-01.csv"
    path.write_text(csv_text(ROWS, header=False, micro=True))
    same_bars(loaders.load(path, None, 60_000)[0])


def test_recording_trades_become_bars(tmp_path):
    # Three trades in minute 0, none in minute 1 (a flat bar repeating the close), two in minute 2.
    frames = [
        (T0 + 1_000, 100.0, 1.0),
        (T0 + 20_000, 103.0, 2.0),
        (T0 + 50_000, 101.0, 1.0),
        (T0 + 2 * MIN + 5_000, 99.0, 1.0),
        (T0 + 2 * MIN + 9_000, 98.0, 0.5),
    ]
    lines = [
        f'{(t + 5) * 1_000_000} {{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{t},"s":"BTCUSDT",'
        f'"a":{i},"p":"{p}","q":"{q}","f":1,"l":1,"T":{t},"m":false}}}}'
        for i, (t, p, q) in enumerate(frames, 1)
    ]
    path = tmp_path / "rec.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    (bars,) = loaders.load(path, None, 60_000)
    assert bars.symbol == "BTCUSDT"
    assert bars.open_ms.tolist() == [T0, T0 + MIN, T0 + 2 * MIN]
    assert bars.open.tolist() == [100.0, 101.0, 99.0]
    assert bars.high.tolist() == [103.0, 101.0, 99.0]
    assert bars.low.tolist() == [100.0, 101.0, 98.0]
    assert bars.close.tolist() == [101.0, 101.0, 98.0]
    assert bars.volume.tolist() == [4.0, 0.0, 1.5]


def test_real_capture_becomes_one_second_bars(btc_capture):
    (bars,) = loaders.load(btc_capture, None, 1000)
    assert bars.symbol == "BTCUSDT"
    assert 300 <= len(bars) <= 400  # the capture spans about six minutes
    assert loaders.gaps(bars, 1000) == []
    assert (bars.low <= bars.close).all() and (bars.close <= bars.high).all()


def test_a_gap_is_reported_with_its_size(tmp_path):
    rows = ROWS[:100] + ROWS[130:]
    path = write_json(tmp_path / "BTCUSDT.json", rows)
    (bars,) = loaders.load(path, None, 60_000)
    assert len(bars) == 270  # not filled
    (gap,) = loaders.gaps(bars, 60_000)
    assert (gap.after_ms, gap.next_ms, gap.missing) == (int(ROWS[99][0]), int(ROWS[130][0]), 30)


def test_bar_size_is_read_from_the_data(tmp_path):
    rows = [[T0 + i * 5 * MIN, 1, 2, 0.5, 1.5, 1] for i in range(10)]
    (bars,) = loaders.load(write_json(tmp_path / "BTCUSDT.json", rows), None, 60_000)
    assert loaders.bar_size_ms(bars) == 5 * MIN


@pytest.mark.parametrize(
    "name, symbol",
    [
        ("BTC_USDT-1m.json.gz", "BTCUSDT"),
        ("BTCUSDT-1m-2024-01.zip", "BTCUSDT"),
        ("btcusdt_20240808.gz", "BTCUSDT"),
        ("ethusdt.csv", "ETHUSDT"),
    ],
)
def test_symbol_from_the_file_name(name, symbol):
    assert loaders.symbol_from_name(name) == symbol


def test_bad_files_are_one_clear_error(tmp_path):
    bad = tmp_path / "BTCUSDT.json"
    bad.write_text('[[1, 2, 3]]')
    with pytest.raises(DataError, match=r"6 values|open_ms"):
        loaders.load(bad, None, 60_000)
    neg = write_json(tmp_path / "ETHUSDT.json", [[T0, 1, 2, -1, 1, 1], [T0 + MIN, 1, 2, 1, 1, 1]])
    with pytest.raises(DataError, match="bar 1 has a price"):
        loaders.load(neg, None, 60_000)
    text = tmp_path / "x.txt"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a kline"):
        loaders.load(text, "BTCUSDT", 60_000)
