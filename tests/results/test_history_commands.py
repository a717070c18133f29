"""`tui-trader trades` and `tui-trader report` read the journal's statuses and pair them into round trips."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tui_trader import messages as m
from tui_trader.cli import main
from tui_trader.journal import Journal

DAY = 86_400_000
T = 1_700_000_000_000 - 1_700_000_000_000 % DAY


def st(oid, side, purpose, qty, price, fee, ts, mode="paper", symbol="BTCUSDT"):
    return m.OrderStatus(
        order_id=oid,
        symbol=symbol,
        side=side,
        purpose=purpose,
        status="filled",
        filled_qty=qty,
        avg_price=price,
        fee=fee,
        mode=mode,
        ts=ts,
    )


@pytest.fixture
def config(tmp_path):
    journal = tmp_path / "journal.sqlite3"
    j = Journal(journal)
    j.complete("a", [st("a", "buy", "entry", 0.1, 30_000.0, 1.5, T + 1000)])
    j.complete(None, [st("a-sl", "sell", "stop_loss", 0.1, 29_100.0, 1.4, T + 60_000)])
    j.complete("b", [st("b", "sell", "entry", 1.0, 2_000.0, 1.0, T + DAY + 1000, symbol="ETHUSDT")])
    j.complete("c", [st("c", "buy", "close", 1.0, 1_900.0, 0.9, T + DAY + 120_000, symbol="ETHUSDT")])
    j.complete("d", [st("d", "buy", "entry", 0.01, 31_000.0, 0.2, T + 2 * DAY)])  # still open
    j.close()
    cfg = tmp_path / "settings.toml"
    cfg.write_text(f'[journal]\npath = "{journal}"\n')
    return cfg


def test_trades_table_and_csv(config, capsys):
    assert main(["trades", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "2 trades" in out and "stop-loss" in out and "opposite signal" in out
    assert "open now (not counted): BTCUSDT long 0.01 (paper)" in out
    assert main(["trades", "--config", str(config), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["symbol"], r["reason"]) for r in rows] == [("BTCUSDT", "stop_loss"), ("ETHUSDT", "signal")]
    assert float(rows[0]["net"]) == pytest.approx(-90.0 - 2.9)
    assert float(rows[1]["net"]) == pytest.approx(100.0 - 1.9)


def test_trades_since_a_date(config, capsys):
    assert main(["trades", "--config", str(config), "--csv", "--since", "2023-11-15"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["symbol"] for r in rows] == ["ETHUSDT"]


def test_report_of_a_journal_period(config, capsys):
    assert main(["report", "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trades"] == 2 and report["wins"] == 1
    assert report["net_pnl"] == pytest.approx(-92.9 + 98.1)
    assert report["final_equity"] == pytest.approx(10_000 - 92.9 + 98.1)
    assert report["max_drawdown"]["amount"] == pytest.approx(92.9)
    assert report["by_reason"]["stop_loss"]["trades"] == 1
    assert main(["report", "--config", str(config), "--since", "2023-11-15"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"trades +1 \(1 won, 0 lost\)", out) and "bars" not in out


def test_no_journal_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "settings.toml"
    cfg.write_text(f'[journal]\npath = "{tmp_path / "none.sqlite3"}"\n')
    assert main(["trades", "--config", str(cfg)]) == 1
    assert "no journal at" in capsys.readouterr().err


def test_report_of_a_period_without_trades_says_so(config, capsys):
    assert main(["report", "--config", str(config), "--mode", "live"]) == 0
    assert capsys.readouterr().out == "no closed live trades in the journal for this period\n"


def test_journaled_funding_is_its_own_figure_in_trades_and_report(tmp_path, capsys):
    journal = tmp_path / "journal.sqlite3"
    j = Journal(journal)
    j.complete("a", [st("a", "buy", "entry", 0.1, 30_000.0, 1.5, T + 1000)])
    j.record_funding(T + 8 * 3_600_000, "paper", "BTCUSDT", -3.0)  # the long paid 3 USDT at 08:00
    j.complete("c", [st("c", "sell", "close", 0.1, 30_100.0, 1.5, T + 9 * 3_600_000)])
    j.complete("b", [st("b", "sell", "entry", 1.0, 2_000.0, 1.0, T + DAY, symbol="ETHUSDT")])
    j.record_funding(T + DAY + 8 * 3_600_000, "paper", "ETHUSDT", 0.2)  # the short received 0.2 USDT
    j.complete("d", [st("d", "buy", "close", 1.0, 2_000.0, 1.0, T + DAY + 9 * 3_600_000, symbol="ETHUSDT")])
    j.close()
    cfg = tmp_path / "settings.toml"
    cfg.write_text(f'[journal]\npath = "{journal}"\n')
    assert main(["trades", "--config", str(cfg), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(float(r["pnl"]), float(r["fees"]), float(r["funding"])) for r in rows] == [
        (pytest.approx(10.0), 3.0, 3.0),
        (0.0, 2.0, -0.2),
    ]
    assert [float(r["net"]) for r in rows] == [pytest.approx(4.0), pytest.approx(-1.8)]
    assert main(["report", "--config", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["fees"], report["funding"]) == (5.0, pytest.approx(2.8))
    assert report["final_equity"] - 10_000 == pytest.approx(10.0 - 5.0 - 2.8)
    assert main(["report", "--config", str(cfg)]) == 0
    assert re.search(r"funding +paid 2\.80 USDT", capsys.readouterr().out)
