"""`tui-trader trades`: the journal's round trips (entry and exit fills paired) with PnL, fees and reason."""

from __future__ import annotations

import argparse
import sys

from tui_trader.commands import load_settings
from tui_trader.commands.backtest import parse_time
from tui_trader.results import history
from tui_trader.results.export import trades_csv
from tui_trader.results.render import render_trades


def run(args: argparse.Namespace) -> int:
    settings, _ = load_settings(args)
    statuses, funding = history.read_journal(settings)
    book = history.trips_of(statuses, args.mode, funding)
    trips = history.in_period(book.closed, parse_time(args.start), parse_time(args.end))
    trips.sort(key=lambda t: (t.exit_ts, t.symbol))
    sys.stdout.write(trades_csv(trips) if args.csv else render_trades(trips))
    if book.open and not args.csv:
        held = ", ".join(f"{sym} {o.side} {o.qty:g} ({mode})" for (mode, sym), o in sorted(book.open.items()))
        sys.stdout.write(f"open now (not counted): {held}\n")
    return 0
