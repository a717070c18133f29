"""`tui-trader backtest` end to end: files in, report out (table, --json, --export), errors in one line."""

from __future__ import annotations

import io
import json

import pytest
from btkit import csv_text, walk, write_json, write_zip

from tui_trader.cli import main
from tui_trader.commands.backtest import Progress

ROWS = walk(3000, seed=5)


@pytest.fixture
def files(tmp_path):
    btc = write_json(tmp_path / "BTC_USDT-1m.json.gz", ROWS, gz=True)
    eth = write_zip(tmp_path / "ETHUSDT-1m.zip", "ETHUSDT-1m.csv", csv_text(walk(3000, seed=6, start=2000.0), True))
    return btc, eth


def backtest(capsys, *args):
    code = main(["backtest", "--offline", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table_report(files, capsys):
    code, out, err = backtest(capsys, "--data", f"{files[0]},{files[1]}")
    assert code == 0
    for label in (
        "period",
        "trades",
        "win rate",
        "net PnL",
        "profit factor",
        "expectancy",
        "max drawdown",
        "Sharpe / Sortino",
        "exposure",
        "avg hold",
        "Per symbol",
        "Per exit reason",
        "BTCUSDT",
        "ETHUSDT",
    ):
        assert label in out
    assert "bars/s" not in err  # no progress bar when stderr is not a terminal


def test_json_and_export_agree(files, capsys, tmp_path):
    code, out, _ = backtest(
        capsys, "--data", files[0], "--data", f"ETHUSDT={files[1]}", "--json", "--export", tmp_path / "out"
    )
    assert code == 0
    report = json.loads(out)
    assert report == json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["trades"] == len((tmp_path / "out" / "trades.csv").read_text().splitlines()) - 1
    assert set(report["by_symbol"]) == {"BTCUSDT", "ETHUSDT"}


def test_period_slice(files, capsys):
    start_ms = int(ROWS[1000][0])
    import datetime as dt

    start = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M")
    _, out, _ = backtest(capsys, "--data", files[0], "--start", start, "--json")
    report = json.loads(out)
    assert report["start_ts"] == start_ms and report["bars"] == 2000


def test_bar_mismatch_is_one_line_naming_the_fix(files, capsys):
    code, _, err = backtest(capsys, "--data", files[0], "--set", 'indicators.bar="5m"')
    assert code == 1
    assert "the data's bars are 1m" in err and "--bar 1m" in err and "Traceback" not in err


def test_set_overrides_a_setting(files, capsys):
    _, out, _ = backtest(capsys, "--data", files[0], "--json")
    _, out_fee, _ = backtest(capsys, "--data", files[0], "--json", "--set", "paper.taker_fee=0.001")
    a, b = json.loads(out), json.loads(out_fee)
    assert b["extra"]["settings"]["taker_fee"] == 0.001
    assert b["fees"] > a["fees"]


def test_missing_file_is_one_line(capsys, tmp_path):
    code, _, err = backtest(capsys, "--data", tmp_path / "nope.json")
    assert code == 1 and "no such file" in err


def test_progress_bar_shows_rate_and_eta_on_a_terminal():
    stream = io.StringIO()
    bar = Progress(stream)
    bar(0, 1000)
    assert stream.getvalue() == ""  # no rate to show yet
    bar(500, 1000)
    bar(1000, 1000)
    text = stream.getvalue()
    assert "500/1,000 bars" in text and "bars/s" in text and "ETA" in text and text.endswith("\n")


def test_set_gives_instrument_rules_and_fill_options(files, capsys, tmp_path):
    pepe = write_json(tmp_path / "PEPEUSDT-1m.json", walk(3000, seed=5, start=0.5))
    _, out, err = backtest(
        capsys,
        "--data",
        pepe,
        "--json",
        "--set",
        "instrument.tick=0.0001",
        "--set",
        "instrument.step=1",
        "--set",
        "instrument.min_notional=5",
        "--set",
        "backtest.entry=next_open",
        "--set",
        "backtest.funding_rate_8h=0.0001",
    )
    report = json.loads(out)
    sym = report["extra"]["symbols"]["PEPEUSDT"]
    assert (sym["rules"], sym["tick"], sym["step"], sym["min_notional"]) == ("command line", 0.0001, 1.0, 5.0)
    assert report["extra"]["entry"] == "next_open" and report["extra"]["funding_rate_8h"] == 0.0001
    assert "inferred" not in err
    code, _, err = backtest(capsys, "--data", pepe, "--set", "backtest.entry=tomorrow")
    assert code == 1 and "backtest.entry" in err


def test_funding_rate_pays_funding_across_funding_times_apart_from_fees_and_reconciles(files, capsys, tmp_path):
    import csv

    code, _, _ = backtest(capsys, "--data", files[0], "--funding-rate", "0.001", "--export", tmp_path / "out")
    assert code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    trades = list(csv.DictReader(io.StringIO((tmp_path / "out" / "trades.csv").read_text())))
    funded = [t for t in trades if float(t["funding"]) != 0]
    # Funding only falls on trips open across a funding time (00:00, 08:00, 16:00 UTC).
    assert funded
    for t in funded:  # a funding time (every 8 h from 00:00 UTC) lies between entry and exit
        assert int(t["entry_ts"]) // 28_800_000 < int(t["exit_ts"]) // 28_800_000, t
    assert report["funding"] == pytest.approx(sum(float(t["funding"]) for t in trades))
    for t in trades:
        assert float(t["net"]) == pytest.approx(float(t["pnl"]) - float(t["fees"]) - float(t["funding"]))
    # Sum of trade PnL minus fees minus funding equals the equity change, to the cent.
    equity = (tmp_path / "out" / "equity.csv").read_text().splitlines()
    final = float(equity[-1].split(",")[2])
    total = sum(float(t["pnl"]) for t in trades) - sum(float(t["fees"]) for t in trades) - report["funding"]
    assert round(total, 2) == round(final - report["starting_equity"], 2) == round(report["net_pnl"], 2)
    # The table shows funding as its own figure, not folded into fees.
    _, table, _ = backtest(capsys, "--data", files[0], "--funding-rate", "0.001")
    line = next(x for x in table.splitlines() if x.strip().startswith("funding"))
    side = "paid" if report["funding"] > 0 else "received"
    assert f"{side} {abs(report['funding']):,.2f} USDT" in line
    assert f"{report['fees']:,.2f} USDT" in next(x for x in table.splitlines() if "gross PnL / fees" in x)
    # The trades list gives each trip's funding its own column and the total its own figure.
    from tui_trader.results.export import read_trades_csv
    from tui_trader.results.render import render_trades

    listing = render_trades(read_trades_csv((tmp_path / "out" / "trades.csv").read_text())).splitlines()
    assert listing[1].split()[9:11] == ["funding", "net"]
    assert listing[-1].endswith(f"funding {side} {abs(report['funding']):,.2f} USDT)")
