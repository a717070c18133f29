"""The report's numbers reconcile with the run and with its own exports, and two runs are identical."""

from __future__ import annotations

import numpy as np
import pytest
from btkit import bars_of, run, walk

from tui_trader.backtest.engine import Options
from tui_trader.backtest.summary import report_of
from tui_trader.results import export as ex
from tui_trader.results.report import max_drawdown


@pytest.fixture(scope="module")
def synthetic():
    data = {
        "BTCUSDT": bars_of("BTCUSDT", walk(6000, seed=7)),
        "ETHUSDT": bars_of("ETHUSDT", walk(6000, seed=11, start=2000.0)),
    }
    result = run(data)
    return result, report_of(result, [], {}, [])


def _reconciles(result, report):
    trips = result.trips.closed
    assert len(trips) > 20  # the data set must exercise the strategy
    start = result.settings.paper.starting_balance
    # PnL sum minus fees equals the equity change, to the cent.
    assert round(sum(t.pnl for t in trips) - sum(t.fees for t in trips), 2) == round(result.equity[-1] - start, 2)
    assert round(report.net_pnl, 2) == round(report.final_equity - start, 2)
    assert result.trips.open == {}  # everything was closed at the end of the data
    # One trip per entry fill.
    entries = [st for st in result.statuses if st.purpose == "entry" and st.status == "filled"]
    assert report.trades == len(entries) == result.trips.closed.__len__()
    assert sum(b.trades for b in report.by_reason.values()) == report.trades
    assert sum(b.trades for b in report.by_symbol.values()) == report.trades
    assert round(sum(b.net_pnl for b in report.by_symbol.values()), 6) == round(report.net_pnl, 6)


def test_synthetic_run_reconciles(synthetic):
    result, report = synthetic
    _reconciles(result, report)
    assert {"signal", "stop_loss", "take_profit"} <= set(report.by_reason)


def test_drawdown_recomputed_from_the_exported_equity_equals_the_report(synthetic, tmp_path):
    result, report = synthetic
    ex.export(tmp_path, report, result.trips.closed, result.equity_ts, result.equity)
    ts, equity = ex.read_equity_csv((tmp_path / "equity.csv").read_text())
    assert max_drawdown(ts, equity) == report.max_drawdown
    # …and by hand: the largest fall from the running peak.
    assert float(np.max(np.maximum.accumulate(equity) - equity)) == report.max_drawdown.amount
    assert report.max_drawdown.amount > 0


def test_csv_and_json_exports_round_trip(synthetic, tmp_path):
    result, report = synthetic
    ex.export(tmp_path, report, result.trips.closed, result.equity_ts, result.equity)
    assert ex.read_trades_csv((tmp_path / "trades.csv").read_text()) == result.trips.closed
    assert ex.read_report_json((tmp_path / "report.json").read_bytes()) == report
    ts, equity = ex.read_equity_csv((tmp_path / "equity.csv").read_text())
    assert ts.tolist() == result.equity_ts.tolist() and equity.tolist() == result.equity.tolist()


def test_two_runs_give_identical_exports(synthetic, tmp_path):
    result, report = synthetic
    data = {
        "BTCUSDT": bars_of("BTCUSDT", walk(6000, seed=7)),
        "ETHUSDT": bars_of("ETHUSDT", walk(6000, seed=11, start=2000.0)),
    }
    again = run(data)
    ex.export(tmp_path / "a", report, result.trips.closed, result.equity_ts, result.equity)
    ex.export(tmp_path / "b", report_of(again, [], {}, []), again.trips.closed, again.equity_ts, again.equity)
    for name in ("trades.csv", "equity.csv", "report.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_next_open_entries_reconcile_and_fill_at_the_next_open():
    rows = walk(6000, seed=7)
    data = {"BTCUSDT": bars_of("BTCUSDT", rows)}
    result = run(data, options=Options(entry="next_open"))
    report = report_of(result, [], {}, [])
    _reconciles(result, report)
    opens = {int(r[0]): r[1] for r in rows}
    for trip in result.trips.closed[:20]:
        assert trip.entry_price == opens[trip.entry_ts]  # no slippage by default: exactly the open


def test_funding_is_charged_to_trips_and_still_reconciles():
    data = {"BTCUSDT": bars_of("BTCUSDT", walk(6000, seed=7))}
    result = run(data, options=Options(funding_rate_8h=0.001))
    report = report_of(result, [], {}, [])
    assert result.counts.funding_payments > 0
    assert report.funding != 0
    assert round(report.net_pnl, 2) == round(result.equity[-1] - result.settings.paper.starting_balance, 2)


def test_real_month_slice_reconciles(shared_data):
    from tui_trader.backtest.loaders import load_json

    folder = shared_data / "binance_spot_1m"
    start, end = 1_620_000_000_000, 1_620_000_000_000 + 3 * 86_400_000
    data = {s: load_json(folder / f"{s[:3]}_USDT-1m.json.gz", s).slice(start, end) for s in ("BTCUSDT", "ETHUSDT")}
    result = run(data)
    _reconciles(result, report_of(result, [], {}, []))


def test_next_open_orders_of_several_symbols_are_all_answered():
    # Each symbol's order for the next open fills before any bar of that time closes: the router's clock never
    # passes its order timeout while an order waits (it did for the second symbol of a time).
    data = {
        "BTCUSDT": bars_of("BTCUSDT", walk(4000, seed=7)),
        "ETHUSDT": bars_of("ETHUSDT", walk(4000, seed=11, start=2000.0)),
    }
    result = run(data, options=Options(entry="next_open"))
    assert result.counts.unanswered == 0
    assert result.counts.next_open_missed == 0
    assert {t.symbol for t in result.trips.closed} == {"BTCUSDT", "ETHUSDT"}
    _reconciles(result, report_of(result, [], {}, []))


def test_next_open_order_across_a_gap_is_rejected_not_filled_late():
    rows = walk(4000, seed=7)
    first = run({"BTCUSDT": bars_of("BTCUSDT", rows)}, options=Options(entry="next_open"))
    signal_bar = next(i for i, r in enumerate(rows) if r[0] + 60_000 == first.trips.closed[0].entry_ts)
    gapped = rows[: signal_bar + 1] + rows[signal_bar + 10 :]  # the open after the first entry signal is missing
    result = run({"BTCUSDT": bars_of("BTCUSDT", gapped)}, options=Options(entry="next_open"))
    assert result.counts.next_open_missed >= 1 and result.counts.unanswered == 0
    missed = [st for st in result.statuses if st.status == "rejected" and "gap in the data" in (st.error or "")]
    assert missed and missed[0].ts == int(rows[signal_bar + 10][0])


def test_any_symbol_trades_whatever_trading_symbols_says():
    result = run({"SOLUSDT": bars_of("SOLUSDT", walk(3000, seed=7, start=20.0))})
    assert result.settings.trading.symbols == ["SOLUSDT"]
    assert len(result.trips.closed) > 5 and "unconfigured_symbol" not in result.counts.denials
