"""The Results screen on a session the desk folds from the bus: three closed round trips (a take-profit, a
stop-loss, an opposite-signal close) and one position still open, over 7½ minutes of 5 s bars of BTCUSDT and
ETHUSDT, so the Bollinger bands and both SMAs have values. What it shows must be what the backtest's results
maths gives for the same fills.

Update the snapshots after looking at them: pytest tests/ui/test_results_screen.py --snapshot-update
"""

from __future__ import annotations

import math

import desk_canned as canned
import msgspec
import pytest
from desk_canned import _cmd, _md, _st
from desk_helpers import LARGE, SMALL, feed
from kit import until
from textual.widgets import DataTable, TabbedContent

from tui_trader import messages as m
from tui_trader.clock import FixedClock
from tui_trader.results.trips import round_trips
from tui_trader.settings import Settings
from tui_trader.ui.app import DeskApp
from tui_trader.ui.screens.results import ResultsScreen
from tui_trader.ui.session_results import SessionResults
from tui_trader.ui.widgets.positions import totals

STEPS = 90


def btc(i: int) -> float:
    return round(60_000 + 120 * math.sin(i / 9) + 2 * i, 1)


def eth(i: int) -> float:
    return round(2_650 - 9 * math.cos(i / 7) - 0.2 * i, 2)


def _trade(events, oid, symbol, side, purpose, qty, price, t, fee, command=False):
    if purpose == "entry" or command:
        events.append((m.ORDERS, symbol, _cmd(oid, symbol, side, qty, price, purpose, t)))
    events.append((m.ORDER_STATUS, symbol, _st(oid, symbol, side, purpose, "filled", t, qty, price, fee)))


def session() -> list[list[tuple[str, str, object]]]:
    out = []
    for i in range(STEPS):
        t = canned.T0 + i * canned.STEP_MS
        batch: list[tuple[str, str, object]] = [
            (m.MARKET_DATA, md.symbol, md) for md in _md("BTCUSDT", btc(i), t, 0.1) + _md("ETHUSDT", eth(i), t, 0.01)
        ]
        at = t + 500
        if i == 55:
            _trade(batch, "r1-entry", "BTCUSDT", "buy", "entry", 0.02, btc(i), at, 0.6)
        if i == 65:
            _trade(batch, "r1-tp", "BTCUSDT", "sell", "take_profit", 0.02, btc(i), at, 0.6)
        if i == 58:
            _trade(batch, "r2-entry", "ETHUSDT", "sell", "entry", 0.5, eth(i), at, 0.66)
        if i == 70:
            _trade(batch, "r2-sl", "ETHUSDT", "buy", "stop_loss", 0.5, eth(i), at, 0.66)
        if i == 75:
            _trade(batch, "r3-entry", "BTCUSDT", "buy", "entry", 0.01, btc(i), at, 0.3)
        if i == 85:
            # The trader's close key: a close command with no signal behind it.
            _trade(batch, "r3-close", "BTCUSDT", "sell", "close", 0.01, btc(i), at, 0.3, command=True)
        if i == 80:
            _trade(batch, "r4-entry", "ETHUSDT", "sell", "entry", 0.4, eth(i), at, 0.53)
        out.append(batch)
    return out


def statuses() -> list[m.OrderStatus]:
    return [msg for batch in session() for topic, _, msg in batch if topic == m.ORDER_STATUS]  # type: ignore[misc]


def bars_5s() -> Settings:
    s = Settings()
    return msgspec.structs.replace(s, indicators=msgspec.structs.replace(s.indicators, bar="5s"))


@pytest.fixture
def desk(desk):
    return lambda **kw: desk(bars_5s(), adaptive_refresh=False, **kw)


async def open_results(pilot, bus, tab: str = "tab-trades") -> ResultsScreen:
    await feed(pilot, bus, session())
    await pilot.press("r")
    await until(
        lambda: isinstance(pilot.app.screen, ResultsScreen) and pilot.app.screen.results_view is not None,
        "the Results screen to draw",
    )
    screen = pilot.app.screen
    screen.query_one(TabbedContent).active = tab
    if tab == "tab-charts":
        await until(lambda: len(screen.query(".price-chart")) == 2, "a chart per symbol")
    await pilot.pause()
    return screen


async def test_trades_totals_and_charts_are_the_backtest_maths(desk, bus):
    expected = round_trips(statuses(), reasons={"r3-close": "manual"}).closed
    assert [t.reason for t in expected] == ["take_profit", "stop_loss", "manual"]
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_results(pilot, bus)
        v = screen.results_view
        assert v is not None
        assert v.trips == expected
        assert v.report.trades == 3 and v.report.wins == sum(1 for t in expected if t.net > 0)
        assert v.report.net_pnl == pytest.approx(sum(t.net for t in expected))
        # The trade list: newest first, each with its net and reason as a trader reads them.
        table = screen.query_one("#results-trades", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert [r[1] for r in rows] == ["BTCUSDT", "ETHUSDT", "BTCUSDT"]
        assert [r[-1] for r in rows] == ["closed by you", "stop-loss", "take-profit"]
        assert [r[10] for r in rows] == [f"{t.net:+,.2f}" for t in reversed(expected)]
        # Totals: the backtest's report text.
        totals_text = str(screen.query_one("#results-totals").render())
        assert "trades              3 (" in totals_text and "Per exit reason" in totals_text
        assert v.report.start_ts == canned.T0
        # Charts: every symbol, with bands and SMAs once they have values, and each trip's markers.
        assert set(v.prices) == {"BTCUSDT", "ETHUSDT"}
        btc_series = v.prices["BTCUSDT"]
        assert len(btc_series.close) == STEPS  # one point per 5 s bar
        assert not math.isnan(btc_series.sma_slow[-1]) and not math.isnan(btc_series.bb_upper[-1])
        kinds = [(mk.kind, mk.reason) for mk in btc_series.markers]
        assert kinds == [("entry_long", ""), ("exit", "take_profit"), ("entry_long", ""), ("exit", "manual")]
        # The equity curve ends where the positions pane's equity is.
        assert v.equity[-1] == pytest.approx(app.state.portfolio.equity())
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, ResultsScreen), "the Results screen to close")


async def test_results_key_is_in_the_footer_help_and_remappable(desk, bus, tmp_path):
    s = bars_5s()
    s = msgspec.structs.replace(s, keys=msgspec.structs.replace(s.keys, results="f5"))
    app = DeskApp(s, bus=bus, clock=FixedClock(canned.NOW), settings_path=tmp_path / "s.toml", adaptive_refresh=False)
    assert app.key_problems == []
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus, session()[:5])
        assert "results" in {b.binding.id for b in app.screen.active_bindings.values() if b.binding.show}
        await pilot.press("r")  # the default no longer opens it
        await pilot.pause()
        assert not isinstance(app.screen, ResultsScreen)
        await pilot.press("f5")
        await until(lambda: isinstance(app.screen, ResultsScreen), "f5 to open Results")


async def test_positions_totals_show_net_beside_its_parts(desk, bus):
    app = desk()
    async with app.run_test(size=LARGE) as pilot:
        await feed(pilot, bus, session())
        view = app.view()
        text = totals(view).plain
        st = app.state
        realised = st.realized_today(view.now_ms)
        fees = st.fees_today(view.now_ms)
        unreal = st.portfolio.unrealized_pnl()
        assert f"Net today {realised - fees + unreal:+,.2f}" in text
        assert f"realised today {realised:+,.2f}" in text and f"fees {fees:,.2f}" in text
        assert f"unrealised {unreal:+,.2f}" in text
        shown = app.screen.query_one("#positions-totals").render()
        assert f"{realised - fees + unreal:+,.2f}" in str(shown)


async def test_at_80_columns_every_figure_of_the_headline_is_on_screen_and_it_follows_a_resize(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_results(pilot, bus)
        r = screen.results_view.report  # type: ignore[union-attr]
        figures = ["3 trades", f"win {r.win_rate_pct:.0f}%", f"net {r.net_pnl:+,.2f}", f"fees {r.fees:,.2f}"]
        figures.append(f"max DD {r.max_drawdown.amount:,.2f}")  # the one cut at 80 columns before

        def shown() -> list[str]:
            return [line.rstrip() for line in str(screen.query_one("#results-head").render()).splitlines()]

        lines = shown()
        assert len(lines) == 2 and all(len(line) <= SMALL[0] - 2 for line in lines)
        assert all(f in "\n".join(lines) for f in figures)
        await pilot.resize_terminal(*LARGE)
        await until(lambda: len(shown()) == 1, "one line once the terminal is wide")
        assert all(f in shown()[0] for f in figures)


async def test_at_80_columns_the_positions_totals_say_the_net_is_todays(desk, bus):
    app = desk()
    async with app.run_test(size=SMALL) as pilot:
        await feed(pilot, bus, session())
        view = app.view()
        assert view.narrow
        assert totals(view).plain.startswith(f"Equity {view.state.portfolio.equity():,.2f}  Today ")


def test_session_series_are_bounded_and_bucketed():
    r = SessionResults(bar="1s", max_points=10)
    for i in range(40):
        md = m.MarketData(
            symbol="BTCUSDT", kind="trade", price=100.0 + i, event_time=i * 500, recv_time=i * 500, ts=i * 500
        )
        r.on_market_data(md, lambda: 1000.0)
    series = r._prices["BTCUSDT"]
    assert len(series) == 10  # newest 10 one-second bars
    assert series[-1] == (19_000, 139.0)  # the bar's close is its last trade


@pytest.mark.parametrize(
    "size,tab",
    [(SMALL, "tab-trades"), (SMALL, "tab-charts"), (LARGE, "tab-totals"), (LARGE, "tab-charts")],
    ids=["small-trades", "small-charts", "large-totals", "large-charts"],
)
def test_snapshot(snap_compare, desk, bus, size, tab):
    async def run_before(pilot) -> None:
        await open_results(pilot, bus, tab)

    assert snap_compare(desk(), terminal_size=size, run_before=run_before)


def test_a_close_without_a_signal_is_the_traders_and_one_with_a_signal_is_not():
    r = SessionResults(bar="1s")
    book = [
        (
            _cmd("e1", "BTCUSDT", "buy", 0.01, 100.0, "entry", 1000),
            _st("e1", "BTCUSDT", "buy", "entry", "filled", 1000, 0.01, 100.0),
        ),
        (
            msgspec.structs.replace(_cmd("c1", "BTCUSDT", "sell", 0.01, 101.0, "close", 2000), signal_id="sig-9"),
            _st("c1", "BTCUSDT", "sell", "close", "filled", 2000, 0.01, 101.0),
        ),
        (
            _cmd("e2", "BTCUSDT", "buy", 0.01, 100.0, "entry", 3000),
            _st("e2", "BTCUSDT", "buy", "entry", "filled", 3000, 0.01, 100.0),
        ),
        (
            _cmd("c2", "BTCUSDT", "sell", 0.01, 99.0, "close", 4000),
            _st("c2", "BTCUSDT", "sell", "close", "filled", 4000, 0.01, 99.0),
        ),
    ]
    for cmd, st in book:
        r.on_command(cmd)
        r.on_status(st, lambda: 0.0)
    assert [t.reason for t in r.trips.closed] == ["signal", "manual"]
